/** @normandy/observability — public API (work in progress). */
export {};
