export type { EventStreamMessage, HeaderValue } from './aws-event-stream.js';
export {
  EventStreamDecoder,
  EventStreamError,
  EventStreamEventParser,
  encodeEvent,
  encodeException,
  encodeMessage,
} from './aws-event-stream.js';
