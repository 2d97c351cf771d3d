import { runMain } from '@taskstream/platform';
import { createFraudService } from './index.js';

await runMain([createFraudService]);
