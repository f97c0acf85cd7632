/** TypeScript client for flux-restful-api v1 (our sidecar and the Python server). */
export { FluxRestfulClient, type StreamOptions, type WaitOptions } from "./client";
export {
  ApiError,
  AuthenticationError,
  ConnectionError,
  FluxRestfulError,
  InvalidJobIdError,
  JobNotFoundError,
  SubmitOutcomeUnknownError,
  WaitTimeoutError,
} from "./errors";
export { formatF58, parseJobId, type JobIdLike } from "./ids";
export { parseJson, stringifyJson } from "./json";
export type * from "./types";
