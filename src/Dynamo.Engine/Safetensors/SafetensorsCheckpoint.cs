using System.Text.Json;

namespace Dynamo.Engine.Safetensors;

/// <summary>
/// The weights of a Hugging Face model folder: <c>model.safetensors</c>, or the shards listed in
/// <c>model.safetensors.index.json</c>'s <c>weight_map</c>. Reads check shapes against what the config expects.
/// </summary>
public sealed class SafetensorsCheckpoint : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafetensorsFile> _files;
    private readonly Dictionary<string, SafetensorsFile> _byTensor;

    private SafetensorsCheckpoint(List<SafetensorsFile> files, Dictionary<string, SafetensorsFile> byTensor)
    {
        _files = files;
        _byTensor = byTensor;
    }

    public IReadOnlyCollection<string> TensorNames => _byTensor.Keys;

    public IReadOnlyList<SafetensorsFile> Files => _files;

    public static SafetensorsCheckpoint Open(string directory)
    {
        var indexPath = System.IO.Path.Combine(directory, IndexFileName);
        var singlePath = System.IO.Path.Combine(directory, SingleFileName);
        var files = new List<SafetensorsFile>();
        var byTensor = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            if (File.Exists(indexPath))
            {
                var byShard = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
                using var index = JsonDocument.Parse(File.ReadAllBytes(indexPath));
                if (!index.RootElement.TryGetProperty("weight_map", out var weightMap) || weightMap.ValueKind != JsonValueKind.Object)
                {
                    throw new InvalidDataException($"{indexPath}: no weight_map object");
                }

                foreach (var entry in weightMap.EnumerateObject())
                {
                    var shard = entry.Value.GetString() ?? throw new InvalidDataException($"{indexPath}: weight_map['{entry.Name}'] is not a file name");
                    if (!byShard.TryGetValue(shard, out var file))
                    {
                        var shardPath = System.IO.Path.Combine(directory, shard);
                        if (!File.Exists(shardPath))
                        {
                            throw new FileNotFoundException($"{indexPath}: shard '{shard}' for tensor '{entry.Name}' does not exist", shardPath);
                        }

                        file = SafetensorsFile.Open(shardPath);
                        files.Add(file);
                        byShard.Add(shard, file);
                    }

                    if (!file.Tensors.ContainsKey(entry.Name))
                    {
                        throw new InvalidDataException($"{indexPath}: tensor '{entry.Name}' is mapped to '{shard}' but that shard does not hold it");
                    }

                    byTensor[entry.Name] = file;
                }
            }
            else if (File.Exists(singlePath))
            {
                var file = SafetensorsFile.Open(singlePath);
                files.Add(file);
                foreach (var name in file.Tensors.Keys)
                {
                    byTensor[name] = file;
                }
            }
            else
            {
                throw new FileNotFoundException($"{directory}: neither {SingleFileName} nor {IndexFileName} exists", singlePath);
            }
        }
        catch
        {
            foreach (var file in files)
            {
                file.Dispose();
            }

            throw;
        }

        return new SafetensorsCheckpoint(files, byTensor);
    }

    public bool Contains(string name) => _byTensor.ContainsKey(name);

    public SafetensorsTensorInfo GetInfo(string name) =>
        _byTensor.TryGetValue(name, out var file)
            ? file.Tensors[name]
            : throw new InvalidDataException($"tensor '{name}' is missing from the checkpoint");

    /// <summary>Reads a tensor as floats after checking its shape; the message names the tensor and both shapes.</summary>
    public void ReadAsSingle(string name, ReadOnlySpan<int> expectedShape, Span<float> destination)
    {
        if (!_byTensor.TryGetValue(name, out var file))
        {
            throw new InvalidDataException($"tensor '{name}' is missing from the checkpoint (expected shape {Shapes.Format(expectedShape.ToArray())})");
        }

        var info = file.Tensors[name];
        if (!info.Shape.SequenceEqual(expectedShape.ToArray().Select(d => (long)d)))
        {
            throw new InvalidDataException($"{file.Path}: tensor '{name}' has shape {info.ShapeText} but config.json implies {Shapes.Format(expectedShape.ToArray())}");
        }

        file.ReadAsSingle(info, destination);
    }

    public void Dispose()
    {
        foreach (var file in _files)
        {
            file.Dispose();
        }
    }
}
