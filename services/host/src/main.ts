import { runMain } from '@taskstream/platform';
import { allServices, readyMessage } from './index.js';

await runMain(allServices, { onReady: (runtime) => runtime.logger.info(readyMessage(runtime)) });
