using System.Text.Json.Nodes;
using Dynamo.DevCluster.Store;

namespace Dynamo.DevCluster.Crds;

/// <summary>Applies a custom resource's structural schema on every write: defaults, pruning (or refusal) of unknown fields, validation.</summary>
internal sealed class CustomResourceAdmission : IAdmission
{
    public void Admit(ResourceType type, JsonObject obj, JsonObject? old, WriteTarget target, WriteOptions options)
    {
        if (type.Schema is null) return;
        var unknown = new List<string>();
        var causes = type.Schema.Apply(obj, unknown);
        if (unknown.Count > 0)
        {
            switch (options.FieldValidation)
            {
                case FieldValidation.Strict:
                    var list = string.Join(", ", unknown.Select(u => $"unknown field \"{u}\""));
                    throw ApiException.BadRequest($"{type.Kind} in version \"{type.Version}\" cannot be handled as a {type.Kind}: strict decoding error: {list}");
                case FieldValidation.Warn:
                    options.Warnings.AddRange(unknown.Select(u => $"unknown field \"{u}\""));
                    break;
            }
        }
        if (causes.Count > 0) throw ApiException.Invalid(type, JsonPaths.GetString(obj, "metadata.name") ?? "", causes);
    }

    public void Committed(ResourceType type, string eventType, JsonObject obj)
    {
    }
}
