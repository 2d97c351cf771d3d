import { describe, expect, it } from '@jest/globals';
import { inSpan, SpanKind } from './telemetry.js';

const PARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('inSpan with nothing exported', () => {
  it("continues the caller's trace with a new span id, and hands over a span that records nothing", async () => {
    const seen = await inSpan('work', PARENT, SpanKind.CONSUMER, async (traceparent, span) => ({
      traceparent,
      recording: span.isRecording(),
    }));
    const [, traceId, spanId, flags] = seen.traceparent.split('-');
    expect(traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(spanId).not.toBe('b7ad6b7169203331');
    expect(flags).toBe('01');
    expect(seen.recording).toBe(false);
  });

  it('starts a trace when there is no parent, and passes the work’s failure on', async () => {
    const traceparent = await inSpan('work', undefined, SpanKind.SERVER, async (tp) => tp);
    expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    await expect(
      inSpan('work', PARENT, SpanKind.SERVER, async () => {
        throw new Error('broken');
      }),
    ).rejects.toThrow('broken');
  });
});
