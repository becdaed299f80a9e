/** @normandy/testing — public API (work in progress). */
export {};
