import { dataschemaFor, type EventName, type EventOf, TYPE_PREFIX } from '@taskstream/contracts';
import { newId } from './trace.js';

/**
 * A CloudEvent of ours as its contract has it (a new UUIDv7 id, type, dataschema), for services
 * that publish events of one subject each (payments, fraud).
 */
export function cloudEvent<N extends EventName>(
  name: N,
  options: { source: string; subject: string; data: EventOf<N>['data']; traceparent: string; time?: string },
) {
  return {
    specversion: '1.0' as const,
    id: newId(),
    type: `${TYPE_PREFIX}${name}`,
    source: options.source,
    time: options.time ?? new Date().toISOString(),
    subject: options.subject,
    datacontenttype: 'application/json',
    dataschema: dataschemaFor(name),
    traceparent: options.traceparent,
    data: options.data,
  };
}
