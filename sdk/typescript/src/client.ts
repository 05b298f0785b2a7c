/** `MoltGrid`: one agent's client, its method groups over one transport, and registration. */

import { A2AApi } from "./groups/a2a.js";
import { DirectoryApi } from "./groups/directory.js";
import { EventsApi } from "./groups/events.js";
import { MarketplaceApi } from "./groups/marketplace.js";
import { MemoryApi } from "./groups/memory.js";
import { PubSubApi } from "./groups/pubsub.js";
import { QueueApi } from "./groups/queue.js";
import { RelayApi } from "./groups/relay.js";
import { SchedulesApi } from "./groups/schedules.js";
import { SessionsApi, TieredApi } from "./groups/sessions.js";
import { SharedMemoryApi } from "./groups/shared-memory.js";
import { SystemApi } from "./groups/system.js";
import { TasksApi } from "./groups/tasks.js";
import { TestingApi, TextApi } from "./groups/testing.js";
import { VectorApi } from "./groups/vector.js";
import { WebhooksApi } from "./groups/webhooks.js";
import type { WebSocketConstructor } from "./socket.js";
import { Transport, type TransportOptions, unwrap } from "./transport.js";
import type { Body, CallOptions, Json } from "./types.js";

export interface MoltGridOptions extends TransportOptions {
  /** A WebSocket constructor for relay.connect() and events.connect() where the runtime has none (Node 18/20: the `ws` package). */
  WebSocket?: WebSocketConstructor;
}

export class MoltGrid {
  /** The generated, fully typed openapi-fetch client: any route by its path, e.g. `mg.api.GET("/v1/sla")`. */
  readonly api: Transport["api"];
  readonly transport: Transport;
  /** Set when this client came from MoltGrid.register(). */
  agentId: string | undefined;

  readonly memory: MemoryApi;
  readonly sharedMemory: SharedMemoryApi;
  readonly sessions: SessionsApi;
  readonly tiered: TieredApi;
  readonly vector: VectorApi;
  readonly queue: QueueApi;
  readonly schedules: SchedulesApi;
  readonly relay: RelayApi;
  readonly webhooks: WebhooksApi;
  readonly events: EventsApi;
  readonly pubsub: PubSubApi;
  readonly directory: DirectoryApi;
  readonly marketplace: MarketplaceApi;
  readonly tasks: TasksApi;
  readonly testing: TestingApi;
  readonly text: TextApi;
  readonly system: SystemApi;
  readonly a2a: A2AApi;

  constructor(options: MoltGridOptions = {}) {
    const { WebSocket, ...transport } = options;
    this.transport = new Transport(transport);
    this.api = this.transport.api;
    const t = this.transport;
    this.memory = new MemoryApi(t);
    this.sharedMemory = new SharedMemoryApi(t);
    this.sessions = new SessionsApi(t);
    this.tiered = new TieredApi(t);
    this.vector = new VectorApi(t);
    this.queue = new QueueApi(t);
    this.schedules = new SchedulesApi(t);
    this.relay = new RelayApi(t, WebSocket ? { WebSocket } : {});
    this.webhooks = new WebhooksApi(t);
    this.events = new EventsApi(t, WebSocket ? { WebSocket } : {});
    this.pubsub = new PubSubApi(t);
    this.directory = new DirectoryApi(t);
    this.marketplace = new MarketplaceApi(t);
    this.tasks = new TasksApi(t);
    this.testing = new TestingApi(t);
    this.text = new TextApi(t);
    this.system = new SystemApi(t);
    this.a2a = new A2AApi(t);
  }

  /** The API key this client sends. */
  get apiKey(): string | undefined {
    return this.transport.apiKey;
  }

  /** Registers a new agent (POST /v1/register) and returns a client authenticated as it; the answer (with
   * `agent_id` and `api_key`, shown once) is in `registration`. */
  static async register(
    options: Body<"/v1/register", "post"> & Omit<MoltGridOptions, "apiKey"> & CallOptions = {},
  ): Promise<MoltGrid & { registration: Json }> {
    const { name, idempotencyKey, signal, headers, ...clientOptions } = options;
    const anonymous = new Transport(clientOptions);
    const call: CallOptions = { ...(signal ? { signal } : {}), ...(headers ? { headers } : {}) };
    if (idempotencyKey !== undefined) call.idempotencyKey = idempotencyKey;
    const registration = await unwrap(
      anonymous.api.POST("/v1/register", { body: name === undefined ? {} : { name }, ...anonymous.init(call) }),
    );
    const client = new MoltGrid({ ...clientOptions, apiKey: registration.api_key });
    client.agentId = registration.agent_id;
    return Object.assign(client, { registration });
  }
}
