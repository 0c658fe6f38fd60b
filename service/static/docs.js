// The OpenAPI explorer, from files this service ships (no CDN); a separate file because the CSP forbids inline script.
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
