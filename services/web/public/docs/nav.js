// The bar above both references: where the other reference, the raw documents and the app are.
const links = [
  ['/docs/', 'REST API (OpenAPI)'],
  ['/docs/asyncapi/', 'Events (AsyncAPI)'],
  ['/openapi.json', 'openapi.json'],
  ['/asyncapi.yaml', 'asyncapi.yaml'],
  ['/', 'Open the app'],
];
const nav = document.createElement('nav');
nav.className = 'docs-nav';
nav.setAttribute('aria-label', 'API references');
const brand = document.createElement('strong');
brand.textContent = 'taskstream';
nav.append(brand);
for (const [href, text] of links) {
  const a = document.createElement('a');
  a.href = href;
  a.textContent = text;
  if (href === window.location.pathname) a.setAttribute('aria-current', 'page');
  nav.append(a);
}
document.body.prepend(nav);
