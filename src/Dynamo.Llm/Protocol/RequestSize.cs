using System.Globalization;
using Dynamo.Contracts.OpenAi;

namespace Dynamo.Llm.Protocol;

/// <summary>
/// How much work a parsed request asks for, and the checks hosts make on it before any expensive step (chat template,
/// tokenization, admission). The answers name the limit and the setting that raises it, never the prompt itself.
/// </summary>
public static class RequestSize
{
    /// <summary>Characters of prompt text: every text prompt, or every message's content (and tool calls' names and
    /// arguments), together.</summary>
    public static long PromptChars(ParsedRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        long chars = 0;
        if (request.Kind == RequestKind.Chat)
        {
            foreach (var message in request.Messages)
            {
                chars += message.Content.Length;
                foreach (var call in message.ToolCalls)
                {
                    // A call's arguments are prompt text too: the template writes them back.
                    chars += call.Name.Length + call.Arguments.Length;
                }
            }
        }
        else
        {
            foreach (var prompt in request.Prompts)
            {
                chars += prompt.Text?.Length ?? 0;
            }
        }

        return chars;
    }

    /// <summary>Sequences the request generates: prompts × <c>n</c> (a chat request has one prompt).</summary>
    public static int Sequences(ParsedRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var prompts = request.Kind == RequestKind.Chat ? 1 : Math.Max(1, request.Prompts.Count);
        return (int)Math.Min(int.MaxValue, (long)prompts * request.N);
    }

    /// <summary>400 <c>prompt_too_long</c> when the prompt text is over <paramref name="maxChars"/>.</summary>
    /// <param name="request">The parsed request.</param>
    /// <param name="maxChars">The limit.</param>
    /// <param name="settingKey">The configuration key of the limit, named in the message.</param>
    public static void CheckPromptChars(ParsedRequest request, int maxChars, string settingKey)
    {
        var chars = PromptChars(request);
        if (chars > maxChars)
        {
            var what = request.Kind == RequestKind.Chat ? "The messages' content" : "The prompt text";
            throw OpenAiException.BadRequest(
                string.Create(CultureInfo.InvariantCulture,
                    $"{what} is {chars} characters long, over the limit of {maxChars}; shorten it, or raise {settingKey}."),
                request.Kind == RequestKind.Chat ? "messages" : "prompt",
                "prompt_too_long");
        }
    }

    /// <summary>400 <c>too_many_sequences</c> when prompts × <c>n</c> is over <paramref name="maxSequences"/>.</summary>
    /// <param name="request">The parsed request.</param>
    /// <param name="maxSequences">The limit.</param>
    /// <param name="settingKey">The configuration key of the limit, named in the message.</param>
    public static void CheckSequences(ParsedRequest request, int maxSequences, string settingKey)
    {
        var sequences = Sequences(request);
        if (sequences > maxSequences)
        {
            var prompts = request.Kind == RequestKind.Chat ? 1 : request.Prompts.Count;
            throw OpenAiException.BadRequest(
                string.Create(CultureInfo.InvariantCulture,
                    $"The request asks for {sequences} sequences ({prompts} prompt{(prompts == 1 ? "" : "s")} × n = {request.N}), over the limit of {maxSequences}; send fewer prompts or a smaller n, or raise {settingKey}."),
                "n",
                "too_many_sequences");
        }
    }
}
