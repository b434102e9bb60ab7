/** The Hono environment shared by the app's routers and middleware. */
export interface AppEnv {
  Variables: {
    /** Echoed as `X-Request-Id` and included in every log line and problem body. */
    requestId: string;
    /** Set by the API-key middleware. */
    tenant: string;
  };
}
