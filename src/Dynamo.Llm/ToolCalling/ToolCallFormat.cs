namespace Dynamo.Llm.ToolCalling;

/// <summary>How a model family writes tool calls in its output (vLLM's and SGLang's <c>--tool-call-parser</c>).</summary>
public enum ToolCallFormat
{
    /// <summary>
    /// <c>hermes</c>: each call as <c>&lt;tool_call&gt;{"name": ..., "arguments": {...}}&lt;/tool_call&gt;</c>, anywhere in
    /// the text (Hermes 2/3, Qwen2.5 and Qwen3, and this project's default ChatML template).
    /// </summary>
    Hermes,

    /// <summary>
    /// <c>llama3_json</c>: the whole answer is <c>{"name": ..., "parameters": {...}}</c> (several separated by
    /// <c>;</c>), maybe after <c>&lt;|python_tag|&gt;</c> (Llama 3.1, 3.2, 3.3 with JSON tool calling). An answer that
    /// does not start so is plain content.
    /// </summary>
    Llama3Json,

    /// <summary>
    /// <c>mistral</c>: <c>[TOOL_CALLS]</c> then a JSON array of <c>{"name": ..., "arguments": {...}}</c> (Mistral 7B v0.3,
    /// Mixtral 8x22B, Mistral Small/Nemo). <c>[TOOL_CALLS]</c> is a special token, left out of the text the workers
    /// decode, so an answer that starts with the array is read as calls too.
    /// </summary>
    Mistral,
}
