/**
 * dapr-components/kubernetes/ is the chart's Dapr objects rendered for a release named
 * "taskstream" (values: components-values.yaml), for those who apply them without Helm:
 *
 *   tsx scripts/chart-check/components.ts --write   regenerate the files
 *   tsx scripts/chart-check/components.ts --check   exit 1 when a file is stale (chart-check)
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { type Rendered, renderChart, repoRoot } from './helm.js';

const outDir = join(repoRoot, 'dapr-components/kubernetes');
const daprTemplates = ['dapr-components.yaml', 'dapr-resiliency.yaml', 'dapr-configuration.yaml'];

interface Target {
  file: string;
  about: string;
  pick: (r: Rendered) => boolean;
  redpanda: boolean;
}

const is = (kind: string, name: string) => (r: Rendered) =>
  r.object.kind === kind && r.object.metadata.name === name;

const targets: Target[] = [
  {
    file: 'pubsub/redpanda-cloud.yaml',
    about:
      'Pub/sub on Redpanda Cloud: Kafka protocol, SASL/SCRAM over TLS, credentials from Secret taskstream-redpanda.',
    pick: is('Component', 'pubsub'),
    redpanda: false,
  },
  {
    file: 'pubsub/in-cluster.yaml',
    about:
      "Pub/sub on the chart's one-node Redpanda (redpanda.enabled, e.g. Minikube): plaintext, no authentication.",
    pick: is('Component', 'pubsub'),
    redpanda: true,
  },
  {
    file: 'pubsub/broadcast-redpanda-cloud.yaml',
    about:
      'Pub/sub of sync on Redpanda Cloud: the same brokers, one consumer group per pod (every replica gets every update).',
    pick: is('Component', 'pubsub-broadcast'),
    redpanda: false,
  },
  {
    file: 'pubsub/broadcast-in-cluster.yaml',
    about: "Pub/sub of sync on the chart's one-node Redpanda: one consumer group per pod.",
    pick: is('Component', 'pubsub-broadcast'),
    redpanda: true,
  },
  {
    file: 'statestore.yaml',
    about: 'State store: state.postgresql v2, connection string from Secret taskstream-secrets.',
    pick: is('Component', 'statestore'),
    redpanda: false,
  },
  {
    file: 'resiliency.yaml',
    about: 'Retries, timeouts and circuit breakers of every app, the pub/sub and the state store.',
    pick: (r) => r.object.kind === 'Resiliency',
    redpanda: false,
  },
  {
    file: 'configuration.yaml',
    about: 'Sidecar Configuration (dapr.io/config: taskstream): W3C tracing, metrics.',
    pick: (r) => r.object.kind === 'Configuration',
    redpanda: false,
  },
];

export function generate(): Map<string, string> {
  const renders = new Map<boolean, Rendered[]>();
  const render = (redpanda: boolean) => {
    let r = renders.get(redpanda);
    if (!r) {
      const args = ['-f', join(repoRoot, 'scripts/chart-check/components-values.yaml')];
      if (redpanda) args.push('--set', 'redpanda.enabled=true');
      for (const t of daprTemplates) args.push('--show-only', `templates/${t}`);
      r = renderChart(args);
      renders.set(redpanda, r);
    }
    return r;
  };
  const files = new Map<string, string>();
  for (const target of targets) {
    const found = render(target.redpanda).filter(target.pick);
    if (found.length !== 1)
      throw new Error(`${target.file}: expected one object, the chart rendered ${found.length}`);
    const header = [
      `# ${target.about}`,
      '#',
      '# Generated from helm/taskstream by scripts/chart-check/components.ts (release "taskstream",',
      '# values scripts/chart-check/components-values.yaml); edit the chart, then run',
      '# `npx tsx scripts/chart-check/components.ts --write`. chart-check fails when this file is stale.',
    ];
    files.set(target.file, `${header.join('\n')}\n${found[0]!.text}\n`);
  }
  return files;
}

if (process.argv[1]?.endsWith('components.ts')) {
  const mode = process.argv[2];
  if (mode !== '--write' && mode !== '--check') {
    console.error('usage: components.ts --write|--check');
    process.exit(2);
  }
  const stale: string[] = [];
  for (const [file, text] of generate()) {
    const path = join(outDir, file);
    const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    if (current === text) continue;
    if (mode === '--write') {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
      console.log(`wrote ${relative(repoRoot, path)}`);
    } else {
      stale.push(relative(repoRoot, path));
    }
  }
  if (stale.length) {
    console.error(`stale (run npx tsx scripts/chart-check/components.ts --write): ${stale.join(', ')}`);
    process.exit(1);
  }
  if (mode === '--check') console.log('dapr-components/kubernetes/ matches the chart');
}
