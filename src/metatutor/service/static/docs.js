// The interactive API reference at /docs, from the vendored Swagger UI (nothing from a CDN).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
