/** JSON schemas shared by the routes (and so by the generated OpenAPI document). */

/** The one error shape every failure has. */
export const ERROR_BODY = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'object', additionalProperties: true } },
    },
  },
} as const;

/** A response object whose fields are documented by the route's summary (manifests, reports). */
export const ANY_OBJECT = { type: 'object', additionalProperties: true } as const;

export const ERROR_RESPONSES = { 400: ERROR_BODY, 401: ERROR_BODY, 403: ERROR_BODY, 404: ERROR_BODY, 409: ERROR_BODY, 503: ERROR_BODY } as const;
