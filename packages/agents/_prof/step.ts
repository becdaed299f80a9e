import { calculator, defineAgent, generateSystemPrompt, OpenAIProvider } from "@normandy/agents";
import { LoopbackLLMServer, type RecordedRequest } from "@normandy/testing";
import { Telemetry } from "@normandy/runtime";
import OpenAI from "openai";
const toolLoop = (req: RecordedRequest) => { const m = (req.body as any).messages; const n = m.filter((x: any) => x.role === "tool").length; return n < 1 ? { toolCalls: [{ name: "calculator", arguments: { operation: "add", a: n, b: 1 } }] } : { text: "done" }; };
const server = await new LoopbackLLMServer({ latency: { firstByteMs: 5 } }).start();
server.append(...Array.from({ length: 5000 }, () => toolLoop));
const tools = [{ type: "function" as const, function: { name: "calculator", description: calculator.description, parameters: calculator.inputSchema } }];
const system = await generateSystemPrompt({}, [calculator.definition]);
const sdk = new OpenAI({ apiKey: "b", baseURL: server.openaiBaseURL, maxRetries: 0 });
async function rawLoop() { const messages: any[] = [{ role: "system", content: system }, { role: "user", content: "add" }]; for (let i = 0; i < 10; i++) { const r = await sdk.chat.completions.create({ model: "gpt-4o", messages, tools, temperature: 0.9 }); const msg = r.choices[0]?.message; if (!msg?.tool_calls?.length) return; messages.push(msg); for (const c of msg.tool_calls) { if (c.type !== "function") continue; const a = JSON.parse(c.function.arguments); messages.push({ role: "tool", tool_call_id: c.id, content: String(a.a + a.b) }); } } }
const telemetry = new Telemetry();
let marks: [string, number][] = [];
const gaps = new Map<string, number[]>();
telemetry.attach("t", "*", (e) => marks.push([e.slice(1).join("."), performance.now()]));
const inner = new OpenAIProvider({ apiKey: "b", baseURL: server.openaiBaseURL });
const provider = { name: "openai", complete: async (r: any, o: any) => { marks.push(["http.start", performance.now()]); const x = await inner.complete(r, o); marks.push(["http.end", performance.now()]); return x; }, stream: (r: any, o: any) => inner.stream(r, o) } as any;
const agent = defineAgent({ name: "b", provider, model: "gpt-4o", tools: [calculator], telemetry });
const runAgent = async () => { agent.resetMemory(); marks = [["begin", performance.now()]]; await agent.run("add"); marks.push(["end", performance.now()]); for (let i = 1; i < marks.length; i++) { const k = `${marks[i-1]![0]} -> ${marks[i]![0]}`; (gaps.get(k) ?? gaps.set(k, []).get(k)!).push(marks[i]![1] - marks[i-1]![1]); } };
const raw: number[] = [], ag: number[] = [];
for (let i = 0; i < 10; i++) { await rawLoop(); await runAgent(); }
for (let i = 0; i < 100; i++) { let t = performance.now(); await rawLoop(); raw.push(performance.now() - t); t = performance.now(); await runAgent(); ag.push(performance.now() - t); }
const q = (v: number[], p: number) => [...v].sort((a, b) => a - b)[Math.floor(p * v.length)]!.toFixed(2);
console.log("raw p10/p50/p90", q(raw, .1), q(raw, .5), q(raw, .9), "agent", q(ag, .1), q(ag, .5), q(ag, .9));
for (const [k, v] of gaps) console.log(k.padEnd(50), "p50", q(v, .5), "ms");
await server.stop();
