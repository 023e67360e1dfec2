package api

import _ "embed"

// OpenAPI is the API's OpenAPI 3.1 document, served at
// /api/v1/openapi.json; TestOpenAPIMatchesRoutes keeps it and the routes
// in step.
//
//go:embed openapi.json
var OpenAPI []byte
