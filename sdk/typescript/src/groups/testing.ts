/** Coordination test scenarios (/v1/testing/scenarios…) and the text utilities (/v1/text/process). */

import type { Body, CallOptions, Json, Query } from "../types.js";
import { unwrap } from "../transport.js";
import { Group } from "./group.js";

type Scenario = { params: { path: { scenario_id: string } } };

export class TestingApi extends Group {
  #scenario(scenarioId: string): Scenario {
    return { params: { path: { scenario_id: scenarioId } } };
  }

  /** Creates a scenario (pattern, agent_count, name, timeout_seconds, success_criteria). */
  create(scenario: Body<"/v1/testing/scenarios", "post">, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.POST("/v1/testing/scenarios", { body: scenario, ...init }));
  }

  /** Lists your scenarios. */
  list(options?: Query<"/v1/testing/scenarios", "get"> & CallOptions): Promise<Json> {
    const [query, init] = this.split(options);
    return unwrap(this.api.GET("/v1/testing/scenarios", { params: { query }, ...init }));
  }

  /** Runs a scenario; answers with its results (up to its timeout_seconds). */
  run(scenarioId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.POST("/v1/testing/scenarios/{scenario_id}/run", { ...this.#scenario(scenarioId), ...init }));
  }

  /** A scenario's results. */
  results(scenarioId: string, options?: CallOptions): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(
      this.api.GET("/v1/testing/scenarios/{scenario_id}/results", { ...this.#scenario(scenarioId), ...init }),
    );
  }
}

export class TextApi extends Group {
  /** Processes text: extract URLs, hashes, base64, sentences, … (`operation`). */
  process(
    text: string,
    operation: Body<"/v1/text/process", "post">["operation"],
    options?: CallOptions,
  ): Promise<Json> {
    const [, init] = this.split(options);
    return unwrap(this.api.POST("/v1/text/process", { body: { text, operation }, ...init }));
  }
}
