/** @normandy/agents — public API (work in progress). */
export {};
