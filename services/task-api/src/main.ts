import { runMain } from '@taskstream/platform';
import { createTaskApiService } from './index.js';

await runMain([createTaskApiService]);
