/** Conversation sessions (/v1/sessions…) and tiered memory (/v1/tiered…): messages folded into summaries,
 * events promoted to notes, recall across tiers. */

import type { Body, CallOptions, Json, Query } from "../types.js";
import { unwrap } from "../transport.js";
import { Group } from "./group.js";

export class SessionsApi extends Group {
  /** Creates a session (title, metadata, max_tokens). */
  create(options?: Body<"/v1/sessions", "post"> & CallOptions): Promise<Json> {
    const [body, init] = this.split(options);
    return unwrap(this.api.POST("/v1/sessions", { body, ...init }));
  }

  /** Lists your sessions. */
  list(options?: Query<"/v1/sessions", "get"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/sessions", { params: { query }, ...init }));
  }

  /** A session and its messages. */
  get(sessionId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.GET("/v1/sessions/{session_id}", { params: { path: { session_id: sessionId } }, ...init }));
  }

  /** Deletes a session. */
  delete(sessionId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(
      this.api.DELETE("/v1/sessions/{session_id}", { params: { path: { session_id: sessionId } }, ...init }),
    );
  }

  /** Appends a message; past max_tokens the oldest fold into the summary. */
  append(
    sessionId: string,
    role: Body<"/v1/sessions/{session_id}/messages", "post">["role"],
    content: string,
    options?: CallOptions,
  ): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(
      this.api.POST("/v1/sessions/{session_id}/messages", {
        params: { path: { session_id: sessionId } },
        body: { role, content },
        ...init,
      }),
    );
  }

  /** Folds all but the 10 newest messages into the summary. */
  summarize(sessionId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(
      this.api.POST("/v1/sessions/{session_id}/summarize", { params: { path: { session_id: sessionId } }, ...init }),
    );
  }
}

export class TieredApi extends Group {
  /** Appends an event to a session, optionally also as a note. */
  storeEvent(
    sessionId: string,
    data: string,
    options?: Omit<Body<"/v1/tiered/store_event", "post">, "session_id" | "data"> & CallOptions,
  ): Promise<Json> {
    const [fields, init] = this.split(options);
    return unwrap(
      this.api.POST("/v1/tiered/store_event", { body: { session_id: sessionId, data, ...fields }, ...init }),
    );
  }

  /** Keyword and recency search over sessions, notes and long-term summaries. */
  recall(query: string, options?: Omit<Body<"/v1/tiered/recall", "post">, "query"> & CallOptions): Promise<Json> {
    const [fields, init] = this.split(options);
    return unwrap(this.api.POST("/v1/tiered/recall", { body: { query, ...fields }, ...init }));
  }

  /** Summarizes a session and promotes the summary to long-term memory. */
  summarize(
    sessionId: string,
    options?: Query<"/v1/tiered/summarize/{session_id}", "post"> & CallOptions,
  ): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(
      this.api.POST("/v1/tiered/summarize/{session_id}", {
        params: { path: { session_id: sessionId }, query },
        ...init,
      }),
    );
  }
}
