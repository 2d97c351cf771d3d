// Renders /openapi.json. A separate file, not an inline script, so the page passes the server's
// Content-Security-Policy (script-src 'self').
window.addEventListener('DOMContentLoaded', () => {
  window.ui = window.SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    docExpansion: 'list',
    defaultModelsExpandDepth: 0,
    // Tries go to this server with the bearer token pasted into Authorize.
    persistAuthorization: false,
    validatorUrl: null,
  });
});
