/** Native Flux client: public surface. */
export { FluxClient, type FluxClientOptions } from "./client";
export {
  FluxError,
  UnknownJobError,
  JobInactiveError,
  FluxUnavailableError,
  FluxTimeoutError,
  FluxProtocolError,
  FluxMessageTooLargeError,
  FluxBacklogError,
  FluxUnsupportedError,
  Errno,
  errnoCode,
} from "./errors";
export { parseJobId, formatJobId, jobIdFromJson, JobIdError, type JobIdForm } from "./ids";
export { parseJson, stringifyJson } from "./json";
export {
  buildJobspec,
  buildBatchJobspec,
  fileref,
  S_IFREG,
  splitCommand,
  unsafeKeyPart,
  parseDuration,
  JobspecError,
  DEFAULT_JOB_ENVIRONMENT,
  type Jobspec,
  type JobspecOptions,
  type JobspecResource,
  type BatchJobspecOptions,
  type Fileref,
} from "./jobspec";
export {
  jobInfo,
  jobInfoToDict,
  stateName,
  resultName,
  statusName,
  returnCode,
  JobState,
  JobResult,
  type JobInfo,
  type JobRecord,
  type JobExceptionInfo,
} from "./jobinfo";
export { parseJobList } from "./services/job-list";
export { expandHostlist, compressHostlist, HostlistError } from "./hostlist";
export { parseIdset, formatIdset, IdsetError } from "./idset";
export { resolveFluxUri, socketPathFromUri, DEFAULT_FLUX_URI, FluxUriError } from "./uri";
export { Role, type PingResult, type BrokerInfo } from "./services/broker";
export { type EventlogEntry, type OutputEvent, type OutputStream, parseEventlog, parseEventlogLine, OutputDecoder } from "./services/job-info";
export { summarizeResources, type ResourceSummary, type NodeStatus, type ResourceCounts } from "./services/resource";
export { DEFAULT_URGENCY } from "./services/ingest";
export { signNone, unwrapNone } from "./codec";
export {
  TESTED_FLUX_CORE,
  SUPPORTED_FLUX_CORE,
  parseFluxCoreVersion,
  fluxCoreSupport,
  type FluxCoreVersion,
  type VersionSupport,
} from "./version";
