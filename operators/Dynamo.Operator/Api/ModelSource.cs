using System.ComponentModel;
using Dynamo.Operator.Schema;

namespace Dynamo.Operator.Api;

/// <summary>Where the model comes from: a folder on the node, or a preset the processes generate.</summary>
public sealed class ModelSource
{
    [Description("A model folder on the node (config.json, tokenizer, weights), passed as --model. Exclusive with preset.")]
    public string? Path { get; set; }

    [EnumValues("tiny", "small", "100m")]
    [Description("A generated model preset (tiny, small or 100m), passed as --model; made on first use in the process's cache. Exclusive with path. Default tiny when neither is set.")]
    public string? Preset { get; set; }

    [Description("The name clients use in \"model\" (--served-model-name); default: the preset or folder name.")]
    public string? ServedModelName { get; set; }
}
