/**
 * The attribute keys and values of the OpenTelemetry GenAI semantic conventions that Normandy records
 * (status: Development), and Normandy's own `normandy.*` keys. Kept here, not imported from
 * `@opentelemetry/semantic-conventions/incubating`, whose experimental names may move between versions.
 */

/** GenAI attribute keys (spans and metrics). */
export const GEN_AI = {
  OPERATION_NAME: "gen_ai.operation.name",
  PROVIDER_NAME: "gen_ai.provider.name",
  REQUEST_MODEL: "gen_ai.request.model",
  REQUEST_STREAM: "gen_ai.request.stream",
  RESPONSE_ID: "gen_ai.response.id",
  RESPONSE_MODEL: "gen_ai.response.model",
  RESPONSE_FINISH_REASONS: "gen_ai.response.finish_reasons",
  RESPONSE_TIME_TO_FIRST_CHUNK: "gen_ai.response.time_to_first_chunk",
  USAGE_INPUT_TOKENS: "gen_ai.usage.input_tokens",
  USAGE_OUTPUT_TOKENS: "gen_ai.usage.output_tokens",
  USAGE_CACHE_READ_INPUT_TOKENS: "gen_ai.usage.cache_read.input_tokens",
  USAGE_CACHE_CREATION_INPUT_TOKENS: "gen_ai.usage.cache_creation.input_tokens",
  USAGE_REASONING_OUTPUT_TOKENS: "gen_ai.usage.reasoning.output_tokens",
  CONVERSATION_ID: "gen_ai.conversation.id",
  AGENT_NAME: "gen_ai.agent.name",
  TOOL_NAME: "gen_ai.tool.name",
  TOOL_CALL_ID: "gen_ai.tool.call.id",
  TOOL_TYPE: "gen_ai.tool.type",
  TOOL_CALL_ARGUMENTS: "gen_ai.tool.call.arguments",
  WORKFLOW_NAME: "gen_ai.workflow.name",
  INPUT_MESSAGES: "gen_ai.input.messages",
  OUTPUT_MESSAGES: "gen_ai.output.messages",
  SYSTEM_INSTRUCTIONS: "gen_ai.system_instructions",
  TOKEN_TYPE: "gen_ai.token.type",
} as const;

/** `gen_ai.operation.name` values. */
export const OPERATION = {
  CHAT: "chat",
  INVOKE_AGENT: "invoke_agent",
  EXECUTE_TOOL: "execute_tool",
  INVOKE_WORKFLOW: "invoke_workflow",
} as const;

/** The stable `error.type` key: the class of error an operation ended with. */
export const ERROR_TYPE = "error.type";

/** Normandy's own keys (spans, span events and metrics). */
export const NORMANDY = {
  RUN_ID: "normandy.run.id",
  TURN_ID: "normandy.turn.id",
  /** `awaiting_approval` on a run span ended by a pause. */
  RUN_STATUS: "normandy.run.status",
  /** On a run span opened for the rest of a run after an approval (or for a run begun before tracing). */
  RUN_RESUMED: "normandy.run.resumed",
  STEP: "normandy.step",
  COST_USD: "normandy.cost.usd",
  AGENT_ID: "normandy.agent.id",
  WORKFLOW_RESUMED: "normandy.workflow.resumed",
  STEP_OK: "normandy.step.ok",
  STEP_DURATION_MS: "normandy.step.duration_ms",
  SUPERVISOR: "normandy.supervisor",
  CHILD_ID: "normandy.child.id",
  PID: "normandy.pid",
  REASON: "normandy.reason",
  TOOLS: "normandy.tools",
  DETACHED: "normandy.tracing.detached",
  DEAD_LETTER_REASON: "normandy.dead_letter.reason",
  MAILBOX_POLICY: "normandy.mailbox.policy",
  PROCESS_NAME: "normandy.process.name",
} as const;
