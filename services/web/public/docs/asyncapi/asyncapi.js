// Renders /asyncapi.yaml with AsyncAPI's standalone bundle; a file of its own for the CSP.
window.addEventListener('DOMContentLoaded', () => {
  window.AsyncApiStandalone.render(
    {
      schema: { url: '/asyncapi.yaml', requestOptions: { headers: { accept: 'application/yaml' } } },
      config: { show: { sidebar: true, errors: true }, sidebar: { showOperations: 'byDefault' } },
    },
    document.getElementById('asyncapi'),
  );
});
