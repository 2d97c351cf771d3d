/**
 * The cached helm of scripts/chart-check/tools.sh, and the chart rendered with it, for
 * components.ts and chart.check.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const chartDir = join(repoRoot, 'helm/taskstream');
export const releaseName = 'taskstream';

/** CHART_CHECK_HELM when set (run.sh sets it), else tools.sh builds helm when missing and names it. */
export function helmPath(): string {
  const fromEnv = process.env.CHART_CHECK_HELM;
  if (fromEnv) return fromEnv;
  return execFileSync('bash', [join(repoRoot, 'scripts/chart-check/tools.sh'), 'helm'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 20,
  }).trim();
}

export interface Rendered {
  /** The object's YAML as helm printed it, without the `# Source:` line. */
  text: string;
  /** The parsed object. */
  object: {
    apiVersion: string;
    kind: string;
    metadata: { name: string; [k: string]: unknown };
    [k: string]: unknown;
  };
  /** The template it came from. */
  source: string;
}

/** `helm template` of the chart; args are passed on (-f, --set, --kube-version, --show-only ...). */
export function renderChart(args: string[], helm = helmPath()): Rendered[] {
  const out = execFileSync(helm, ['template', releaseName, chartDir, '--namespace', 'taskstream', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
  });
  const rendered: Rendered[] = [];
  for (const part of out.split(/^---\s*$/m)) {
    const source = /^# Source: (.*)$/m.exec(part)?.[1] ?? '';
    const text = part.replace(/^# Source: .*\n/m, '').trim();
    if (!text) continue;
    const docs = parseAllDocuments(text);
    for (const doc of docs) {
      if (doc.errors.length) throw new Error(`${source}: ${doc.errors[0]?.message}`);
      const object = doc.toJS() as Rendered['object'] | null;
      if (object) rendered.push({ text, object, source });
    }
  }
  return rendered;
}
