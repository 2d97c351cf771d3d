import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** One version for what a platform team pins: the npm packages, the chart and the images it names. */
const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(root + file, 'utf8');
const pkg = JSON.parse(read('package.json')) as { version: string; workspaces: string[]; license: string };

test('every workspace package has the root version and licence', () => {
  expect(pkg.version).toMatch(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
  expect(pkg.license).toBe('Apache-2.0');
  for (const dir of pkg.workspaces) {
    const own = JSON.parse(read(`${dir}/package.json`)) as { version: string; license: string };
    expect({ dir, version: own.version, license: own.license }).toEqual({
      dir,
      version: pkg.version,
      license: 'Apache-2.0',
    });
  }
});

test('the chart and its app version are the package version', () => {
  const chart = parse(read('helm/taskstream/Chart.yaml')) as { version: string; appVersion: string };
  expect({ version: chart.version, appVersion: chart.appVersion }).toEqual({
    version: pkg.version,
    appVersion: pkg.version,
  });
});

test('the changelog has a section for the version', () => {
  expect(read('CHANGELOG.md')).toContain(`## [${pkg.version}]`);
  expect(read('LICENSE')).toContain('Apache License');
});

test('images are <registry>/taskstream/<service>, pushed as :<version> from the tag v<version>', () => {
  const workflow = read('.github/workflows/build-test.yml');
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bash's ${OWNER,,}, matched as written
  expect(workflow).toContain('image="ghcr.io/${OWNER,,}/taskstream/$SERVICE"');
  expect(workflow).toContain('tags+=$\'\\n\'"$image:$version"');
  expect(workflow).toContain('"v$version"');
  // The chart's default tag is its appVersion (the chart test renders it), under the same repository.
  const values = parse(read('helm/taskstream/values.yaml')) as { global: { image: Record<string, string> } };
  expect(values.global.image).toMatchObject({ repository: 'taskstream', tag: '' });
  expect(read('helm/taskstream/templates/_helpers.tpl')).toContain(
    '{{- $tag := .svc.image.tag | default $g.tag | default .root.Chart.AppVersion -}}',
  );
});
