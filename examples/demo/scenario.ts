/**
 * The demo's scenario: the question the team answers, the club's bundled sample data its tools read, and
 * the follow-up that the injected crash interrupts. Shared by the team (tools, prompts) and the scripted
 * model that plays it offline.
 */

/** The question the manager's team answers. */
export const REQUEST =
  "Our sailing club crosses the Channel on Saturday morning. Should we leave from Brest or from Cherbourg, and when?";

/** The distance of the crossing and the boats' speed the analyst works with. */
export const CROSSING = { miles: 62, knots: 6.5 } as const;

/** The follow-up the researcher gets once the plan is done; the crash drill interrupts it. */
export const FOLLOW_UP =
  "Check the tidal stream off Cherbourg with the current_atlas tool, then say which port is the better start, using what you found earlier.";

/** The ports the tools know. */
export const PORTS = ["Brest", "Cherbourg"] as const;

/** A port the tools know. */
export type Port = (typeof PORTS)[number];

/** The club's bundled sample data (not live observations: the tools work offline). */
export const SAMPLE_DATA = {
  tides: {
    Brest: "high water 06:12 (6.9 m), low water 12:31 (1.4 m)",
    Cherbourg: "high water 07:05 (5.8 m), low water 13:20 (1.6 m)",
  },
  forecast: {
    Brest: "wind W 6 Bft, gusts 30 kn, rough sea, swell 2.5 m",
    Cherbourg: "wind NW 3-4 Bft, slight sea, swell 0.8 m",
  },
  currents: {
    Brest: "Chenal du Four: 4 kn at springs, slack at 06:00",
    Cherbourg: "Raz Blanchard: 9 kn at springs, slack at 07:40; leave within an hour of slack",
  },
} as const satisfies Record<string, Record<Port, string>>;
