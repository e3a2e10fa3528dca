namespace Dynamo.Contracts.OpenAi;

/// <summary>What <c>tool_choice</c> asks of the model.</summary>
public enum ToolChoiceMode
{
    /// <summary>No tool calls: tools are not offered to the model and its output is not parsed for calls.</summary>
    None,

    /// <summary>The model decides between answering and calling tools.</summary>
    Auto,

    /// <summary>The model must call at least one tool.</summary>
    Required,

    /// <summary>The model must call the function <see cref="ToolChoice.FunctionName"/>.</summary>
    Function,
}
