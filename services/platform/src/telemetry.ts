import {
  context,
  INVALID_SPAN_CONTEXT,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { childTraceparent } from './trace.js';

export { SpanKind };

/** Tracer providers started in this process and not shut down (see inSpan). */
let exporting = 0;
/** What work gets while nothing is exported: every call on it does nothing. */
const NOT_RECORDED: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * OpenTelemetry traces over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise nothing
 * is exported, but trace ids still flow through `traceparent` (see inSpan).
 */
export function startTelemetry(
  endpoint: string | undefined,
  serviceName: string,
): { shutdown(): Promise<void> } {
  if (!endpoint) return { shutdown: async () => undefined };
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }),
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint.replace(/\/$/, '')}/v1/traces` })),
    ],
  });
  // No context manager: inSpan hands each span and its traceparent to the work explicitly, and
  // the AsyncLocalStorage one tracks every promise of the process (measured in ADR 0011).
  provider.register({ propagator: new W3CTraceContextPropagator(), contextManager: null });
  exporting++;
  return {
    async shutdown() {
      exporting--;
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

/**
 * Runs `work` in a span that continues `parent` (a W3C traceparent) and hands it the traceparent
 * of the new span, to put on what the work causes (outbox rows, published events, invocations).
 */
export function inSpan<T>(
  name: string,
  parent: string | undefined,
  kind: SpanKind,
  work: (traceparent: string, span: Span) => Promise<T>,
): Promise<T> {
  // Nothing exported: the API would make a span that records nothing and inject no header, at
  // a few microseconds for every request and every event handled; the traceparent is all that
  // flows then, so make it directly.
  if (exporting === 0) return work(childTraceparent(parent), NOT_RECORDED);
  return inExportedSpan(name, parent, kind, work);
}

async function inExportedSpan<T>(
  name: string,
  parent: string | undefined,
  kind: SpanKind,
  work: (traceparent: string, span: Span) => Promise<T>,
): Promise<T> {
  const parentContext = parent ? propagation.extract(ROOT_CONTEXT, { traceparent: parent }) : ROOT_CONTEXT;
  const span = trace.getTracer('taskstream').startSpan(name, { kind }, parentContext);
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(parentContext, span), carrier);
  // With the SDK, the span's own context, sampled or not (a trace sampled out stays out
  // downstream); without it the API injects nothing: make the child id ourselves.
  const traceparent = carrier.traceparent ?? childTraceparent(parent);
  try {
    return await work(traceparent, span);
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: String((err as Error)?.message ?? err) });
    throw err;
  } finally {
    span.end();
  }
}
