/** @normandy/coordination — public API (work in progress). */
export {};
