using Dynamo.Cli.Configuration;
using Dynamo.Llm;
using Microsoft.Extensions.Logging;

namespace Dynamo.Cli.Hosting;

/// <summary>
/// The model of a single-part process (<c>dynamo frontend</c>, <c>dynamo worker</c>), chosen as <c>dynamo serve</c>
/// chooses it (<c>Dynamo:Serve:Model</c>, <c>:ServedModelName</c>, <c>:Seed</c>, <c>:ToolCallParser</c>), so a frontend and its workers
/// started with the same flags agree on the tokenizer and on the served name.
/// </summary>
internal static class ProcessModel
{
    public static async Task<(string Directory, ModelCard Card)> LoadAsync(ServeOptions serve, ILogger logger, CancellationToken cancellationToken)
    {
        var directory = await ModelResolver.ResolveAsync(serve.Model, serve.Seed, logger, cancellationToken);
        var name = serve.ServedModelName
            ?? (ModelResolver.TryParsePreset(serve.Model, out _) ? serve.Model : Path.GetFileName(directory.TrimEnd('/')));
        return (directory, ModelCard.Load(directory, name, serve.ToolCallParser));
    }
}
