import { runMain } from '@taskstream/platform';
import { createNotificationService } from './index.js';

await runMain([createNotificationService]);
