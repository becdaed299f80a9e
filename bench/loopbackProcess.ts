// A loopback LLM server in a process of its own (see `serveInProcess`): argv[2] is the tool loop's step
// count; it sends its OpenAI base URL, forgets its records on "forget", and exits when disconnected.
import { LoopbackLLMServer } from "@normandy/testing";
import { toolLoop } from "./loopback.js";

const server = await new LoopbackLLMServer({ fallback: toolLoop(Number(process.argv[2] ?? 1)) }).start();
process.on("message", () => server.reset());
process.on("disconnect", () => {
  void server.stop().then(() => process.exit(0));
});
process.send?.(server.openaiBaseURL);
