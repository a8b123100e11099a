/**
 * PlayAudioEvent types, whatever form the loader gives them in.
 *
 * With `enums: String` the event type is a name; with the default loader options it is a number;
 * a proto3 default (STARTED = 0) can even be missing. The cloud's current client compared names
 * with numbers, so STARTED, PROGRESS and COMPLETED all fell through to FAILED. One function turns
 * every form into a name, and an unknown value is reported as such, never as FAILED.
 */

export const PLAY_EVENT_TYPES = ["STARTED", "PROGRESS", "COMPLETED", "FAILED"] as const;
export type PlayEventType = (typeof PLAY_EVENT_TYPES)[number];

/** The event type's name, or undefined for a value this contract does not define. */
export function playEventType(value: unknown): PlayEventType | undefined {
  if (value === undefined || value === null) return "STARTED"; // proto3 omits the zero value
  if (typeof value === "number") return PLAY_EVENT_TYPES[value];
  if (typeof value === "string") {
    const name = value.toUpperCase();
    if ((PLAY_EVENT_TYPES as readonly string[]).includes(name)) return name as PlayEventType;
    if (/^\d+$/.test(value)) return PLAY_EVENT_TYPES[Number(value)];
  }
  return undefined;
}

export const SERVING_STATUSES = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"] as const;
export type ServingStatus = (typeof SERVING_STATUSES)[number];

export function servingStatus(value: unknown): ServingStatus {
  if (typeof value === "number") return SERVING_STATUSES[value] ?? "UNKNOWN";
  if (typeof value === "string" && (SERVING_STATUSES as readonly string[]).includes(value)) {
    return value as ServingStatus;
  }
  return "UNKNOWN";
}
