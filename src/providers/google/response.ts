// GenerateContentResponse → OpenAI chat.completion (providers.md 5.4, 9.1, 9.2).
import type { TokenUsage } from '../../canonical/index.js';
import {
  badResponse,
  type ChatResult,
  completionBody,
  type FinishReason,
  type OpenAIToolCall,
  type ResponseContext,
  tierOf,
  type UpstreamFailure,
} from '../spec/index.js';
import { SIGNATURE_MARK } from './request.js';

const decoder = new TextDecoder();

export interface GeminiPart {
  text?: string;
  thought?: boolean;
  thoughtSignature?: string;
  functionCall?: { id?: string; name?: string; args?: unknown };
}

export interface GenerateContentResponse {
  candidates?: { content?: { parts?: GeminiPart[] }; finishReason?: string }[];
  promptFeedback?: { blockReason?: string };
  usageMetadata?: Record<string, unknown>;
  error?: { code?: number; message?: string; status?: string };
}

const FILTERED = new Set([
  'SAFETY',
  'RECITATION',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'IMAGE_SAFETY',
  'IMAGE_PROHIBITED_CONTENT',
  'IMAGE_RECITATION',
]);

export function finishFromGemini(reason: string | undefined, calledTools: boolean): FinishReason {
  if (calledTools) return 'tool_calls'; // a function call still ends with STOP
  if (reason === 'MAX_TOKENS') return 'length';
  if (reason && FILTERED.has(reason)) return 'content_filter';
  return 'stop';
}

const n = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);

/** candidatesTokenCount excludes thoughts; cachedContentTokenCount is part of promptTokenCount. */
export function usageFromGemini(u: Record<string, unknown> | undefined): TokenUsage | null {
  if (!u || typeof u !== 'object') return null;
  const prompt = n(u.promptTokenCount) + n(u.toolUsePromptTokenCount);
  const cached = Math.min(prompt, n(u.cachedContentTokenCount));
  return {
    tokensInputUncached: prompt - cached,
    tokensInputCached: cached,
    tokensOutput: n(u.candidatesTokenCount),
    tokensReasoning: n(u.thoughtsTokenCount),
  };
}

/** A function call as an OpenAI tool call; its thought signature rides in the id. */
export function toolCallOf(p: GeminiPart, index: number): OpenAIToolCall | null {
  const f = p.functionCall;
  if (!f || typeof f.name !== 'string') return null;
  const id = `${f.id || `call_${index}`}${p.thoughtSignature ? `${SIGNATURE_MARK}${p.thoughtSignature}` : ''}`;
  return { id, name: f.name, arguments: JSON.stringify(f.args ?? {}) };
}

export function parseGenerateContentResponse(
  body: Uint8Array,
  ctx: ResponseContext,
): ChatResult | UpstreamFailure {
  let json: GenerateContentResponse;
  try {
    json = JSON.parse(decoder.decode(body)) as GenerateContentResponse;
  } catch {
    return badResponse('Google sent a generateContent response that is not valid JSON');
  }
  if (typeof json !== 'object' || json === null)
    return badResponse('Google sent a response that is not an object');
  const usage = usageFromGemini(json.usageMetadata);
  const zero = { tokensInputUncached: 0, tokensInputCached: 0, tokensOutput: 0, tokensReasoning: 0 };
  const cand = json.candidates?.[0];
  if (!cand) {
    if (!json.promptFeedback?.blockReason) return badResponse('Google sent a response with no candidates');
    return {
      body: completionBody(ctx, '', [], 'content_filter', usage ?? zero),
      usage,
      finishReason: 'content_filter',
    };
  }
  let text = '';
  const calls: OpenAIToolCall[] = [];
  for (const p of cand.content?.parts ?? []) {
    if (typeof p.text === 'string' && !p.thought) text += p.text;
    const call = toolCallOf(p, calls.length);
    if (call) calls.push(call);
  }
  const finishReason = finishFromGemini(cand.finishReason, calls.length > 0);
  return {
    body: completionBody(ctx, text, calls, finishReason, usage ?? zero),
    usage,
    finishReason,
    ...tierOf(json.usageMetadata?.trafficType),
  };
}
