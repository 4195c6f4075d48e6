/* Starts Swagger UI on /schema: the document's address comes from the page, so the page
   itself holds no script (the Content-Security-Policy allows only files from /static). */
window.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null, // else a badge image is fetched from swagger.io
    presets: [SwaggerUIBundle.presets.apis],
  });
});
