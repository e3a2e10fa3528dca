using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Dynamo.DevCluster.Controllers;
using Dynamo.DevCluster.Store;

namespace Dynamo.DevCluster.Node;

/// <summary>What a container runs as on this machine: the executable, arguments, environment and working folder.</summary>
internal sealed record ContainerLaunch(string Executable, IReadOnlyList<string> Arguments, IReadOnlyDictionary<string, string> Environment, string WorkingDirectory);

/// <summary>
/// Turns a container spec into a <see cref="ContainerLaunch"/>, as a kubelet and a container runtime would: the
/// environment from <c>envFrom</c> (ConfigMaps and Secrets, with a prefix) then <c>env</c> (values, fieldRef,
/// configMapKeyRef, secretKeyRef), <c>$(VAR)</c> expansion in env values, command and args (<c>$$</c> escapes;
/// unknown names stay as written), cluster DNS names of Services (<c>SVC.NS.svc</c>, <c>SVC.NS.svc.cluster.local</c>)
/// replaced by the Service's cluster IP, volume mount paths in args and env values replaced by the pod's folder for
/// that volume, and the command's executable mapped: <c>dynamo</c> to the dynamo CLI, anything else by PATH (with the
/// sbin folders). The image is not used: every image is this machine, and a container that sets no
/// <c>workingDir</c> starts in <paramref name="imageWorkingDirectory"/> (the image's WORKDIR; null: the pod's folder).
/// </summary>
internal sealed partial class ContainerLaunchBuilder(ObjectStore store, DynamoCommand dynamo, Func<string, string, string?> serviceAddress, string? imageWorkingDirectory = null)
{
    private readonly ResourceType _configMaps = store.Registry.FindKind("v1", "ConfigMap")!;
    private readonly ResourceType _secrets = store.Registry.FindKind("v1", "Secret")!;

    public ContainerLaunch Build(JsonObject pod, JsonObject container, string podDirectory, IReadOnlyDictionary<string, string> volumePaths, string hostIp)
    {
        var ns = Objects.Namespace(pod);
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var from in (container["envFrom"] as JsonArray ?? []).OfType<JsonObject>())
        {
            var prefix = (string?)from["prefix"] ?? "";
            if (from["configMapRef"] is JsonObject cmRef)
            {
                foreach (var (k, v) in Source(_configMaps, ns, cmRef, secret: false)) env[prefix + k] = v;
            }
            else if (from["secretRef"] is JsonObject sRef)
            {
                foreach (var (k, v) in Source(_secrets, ns, sRef, secret: true)) env[prefix + k] = v;
            }
        }
        foreach (var e in (container["env"] as JsonArray ?? []).OfType<JsonObject>())
        {
            var name = (string?)e["name"] ?? throw new ContainerConfigException("CreateContainerConfigError", "an env entry has no name");
            string? value;
            if (e["valueFrom"] is JsonObject valueFrom)
            {
                value = ValueFrom(pod, valueFrom, ns, hostIp, name);
                if (value is null) continue;
            }
            else
            {
                value = Expand((string?)e["value"] ?? "", env);
            }
            env[name] = Rewrite(value, ns, volumePaths);
        }

        var command = (container["command"] as JsonArray ?? []).Select(n => Rewrite(Expand(n?.ToString() ?? "", env), ns, volumePaths)).ToList();
        var args = (container["args"] as JsonArray ?? []).Select(n => Rewrite(Expand(n?.ToString() ?? "", env), ns, volumePaths)).ToList();
        if (command.Count == 0)
            throw new ContainerConfigException("CreateContainerConfigError",
                $"container {(string?)container["name"]} has no command: the dev cluster runs commands as local processes and cannot read the image's entrypoint (image {(string?)container["image"]})");

        string executable;
        var arguments = new List<string>();
        if (command[0] == "dynamo")
        {
            executable = dynamo.Executable;
            arguments.AddRange(dynamo.LeadingArguments);
        }
        else
        {
            executable = FindExecutable(command[0])
                ?? throw new ContainerConfigException("RunContainerError", $"executable \"{command[0]}\" not found on this machine (searched PATH, /usr/local/sbin, /usr/sbin, /sbin)");
        }
        arguments.AddRange(command.Skip(1));
        arguments.AddRange(args);

        var workingDirectory = (string?)container["workingDir"] is { Length: > 0 } wd ? Rewrite(wd, ns, volumePaths) : imageWorkingDirectory ?? podDirectory;
        if (!Directory.Exists(workingDirectory))
            throw new ContainerConfigException("CreateContainerConfigError", $"workingDir {workingDirectory} does not exist on this machine");
        return new ContainerLaunch(executable, arguments, env, workingDirectory);
    }

    private IEnumerable<(string Key, string Value)> Source(ResourceType type, string ns, JsonObject reference, bool secret)
    {
        var name = (string?)reference["name"] ?? "";
        var optional = reference["optional"]?.GetValue<bool>() == true;
        if (!store.TryGet(type, ns, name, out var obj))
        {
            if (optional) yield break;
            throw new ContainerConfigException("CreateContainerConfigError", $"{(secret ? "secret" : "configmap")} \"{name}\" not found");
        }
        foreach (var (k, v) in Data(obj!, secret)) yield return (k, v);
    }

    private static IEnumerable<(string Key, string Value)> Data(JsonObject obj, bool secret)
    {
        foreach (var (k, v) in obj["data"] as JsonObject ?? [])
        {
            var text = v?.ToString() ?? "";
            yield return (k, secret ? Encoding.UTF8.GetString(Convert.FromBase64String(text)) : text);
        }
        if (!secret)
        {
            foreach (var (k, v) in obj["binaryData"] as JsonObject ?? []) yield return (k, Encoding.UTF8.GetString(Convert.FromBase64String(v?.ToString() ?? "")));
        }
    }

    private string? ValueFrom(JsonObject pod, JsonObject valueFrom, string ns, string hostIp, string envName)
    {
        if (valueFrom["fieldRef"] is JsonObject fieldRef)
        {
            var path = (string?)fieldRef["fieldPath"] ?? "";
            return FieldValue(pod, path, hostIp)
                ?? throw new ContainerConfigException("CreateContainerConfigError", $"env {envName}: fieldRef {path} is not supported (metadata.name, metadata.namespace, metadata.uid, metadata.labels['K'], metadata.annotations['K'], spec.nodeName, spec.serviceAccountName, status.podIP, status.podIPs, status.hostIP, status.hostIPs)");
        }
        foreach (var (kind, type, secret) in new[] { ("configMapKeyRef", _configMaps, false), ("secretKeyRef", _secrets, true) })
        {
            if (valueFrom[kind] is not JsonObject keyRef) continue;
            var name = (string?)keyRef["name"] ?? "";
            var key = (string?)keyRef["key"] ?? "";
            var optional = keyRef["optional"]?.GetValue<bool>() == true;
            if (!store.TryGet(type, ns, name, out var obj))
            {
                if (optional) return null;
                throw new ContainerConfigException("CreateContainerConfigError", $"{(secret ? "secret" : "configmap")} \"{name}\" not found");
            }
            foreach (var (k, v) in Data(obj!, secret))
            {
                if (k == key) return v;
            }
            if (optional) return null;
            throw new ContainerConfigException("CreateContainerConfigError", $"couldn't find key {key} in {(secret ? "Secret" : "ConfigMap")} {ns}/{name}");
        }
        throw new ContainerConfigException("CreateContainerConfigError", $"env {envName}: valueFrom supports fieldRef, configMapKeyRef and secretKeyRef on the dev cluster (resourceFieldRef and fileKeyRef are not)");
    }

    internal static string? FieldValue(JsonObject pod, string path, string hostIp)
    {
        if (LabelOrAnnotation().Match(path) is { Success: true } m)
        {
            var map = JsonPaths.Get(pod, $"metadata.{m.Groups[1].Value}") as JsonObject;
            return map?[m.Groups[2].Value]?.ToString() ?? "";
        }
        return path switch
        {
            "metadata.name" => Objects.Name(pod),
            "metadata.namespace" => Objects.Namespace(pod),
            "metadata.uid" => Objects.Uid(pod),
            "spec.nodeName" => JsonPaths.GetString(pod, "spec.nodeName") ?? "",
            "spec.serviceAccountName" => JsonPaths.GetString(pod, "spec.serviceAccountName") ?? "default",
            "status.podIP" or "status.podIPs" => JsonPaths.GetString(pod, "status.podIP") ?? "",
            "status.hostIP" or "status.hostIPs" => hostIp,
            _ => null,
        };
    }

    /// <summary>Kubernetes <c>$(VAR)</c> expansion: defined names are replaced, <c>$$</c> is a literal <c>$</c>, anything else stays.</summary>
    internal static string Expand(string input, IReadOnlyDictionary<string, string> env)
    {
        if (!input.Contains('$', StringComparison.Ordinal)) return input;
        var sb = new StringBuilder();
        for (var i = 0; i < input.Length; i++)
        {
            if (input[i] != '$' || i + 1 >= input.Length)
            {
                sb.Append(input[i]);
                continue;
            }
            if (input[i + 1] == '$')
            {
                sb.Append('$');
                i++;
                continue;
            }
            if (input[i + 1] == '(')
            {
                var close = input.IndexOf(')', i + 2);
                if (close > 0)
                {
                    var name = input[(i + 2)..close];
                    if (env.TryGetValue(name, out var value))
                    {
                        sb.Append(value);
                    }
                    else
                    {
                        sb.Append(input, i, close - i + 1);
                    }
                    i = close;
                    continue;
                }
            }
            sb.Append('$');
        }
        return sb.ToString();
    }

    /// <summary>Cluster DNS names replaced by Service addresses, then volume mount paths by the pod's folders.</summary>
    private string Rewrite(string value, string podNamespace, IReadOnlyDictionary<string, string> volumePaths)
    {
        value = ReplaceServiceNames(value, (ns, name) => serviceAddress(ns, name)
            // A real cluster's DNS would answer NXDOMAIN and the program retry; here the name is replaced once, at
            // start, so the container waits (CreateContainerConfigError, retried with back-off) until the Service exists.
            ?? throw new ContainerConfigException("CreateContainerConfigError",
                $"host {name}.{ns}.svc: no Service \"{name}\" with a cluster IP in namespace {ns} yet (the dev cluster has no DNS resolver: Service names are replaced by their cluster IP when the container starts, so it waits for the Service)"));
        foreach (var (mountPath, hostPath) in volumePaths.OrderByDescending(kv => kv.Key.Length))
        {
            if (value == mountPath) return hostPath;
            if (value.StartsWith(mountPath + "/", StringComparison.Ordinal)) return hostPath + value[mountPath.Length..];
            var eq = value.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                var rest = value[(eq + 1)..];
                if (rest == mountPath || rest.StartsWith(mountPath + "/", StringComparison.Ordinal))
                    return value[..(eq + 1)] + hostPath + rest[mountPath.Length..];
            }
        }
        return value;
    }

    /// <summary>Replaces <c>SVC.NS.svc</c> and <c>SVC.NS.svc.cluster.local</c> host names by the address <paramref name="lookup"/> gives (null: left as is).</summary>
    internal static string ReplaceServiceNames(string value, Func<string, string, string?> lookup)
    {
        if (!value.Contains(".svc", StringComparison.Ordinal)) return value;
        return ServiceName().Replace(value, m => lookup(m.Groups["ns"].Value, m.Groups["svc"].Value) ?? m.Value);
    }

    internal static string? FindExecutable(string name)
    {
        if (name.Contains('/', StringComparison.Ordinal)) return File.Exists(name) ? Path.GetFullPath(name) : null;
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/local/sbin", "/usr/sbin", "/sbin"]);
        foreach (var dir in dirs)
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    [GeneratedRegex(@"(?<![-A-Za-z0-9.])(?<svc>[a-z0-9]([-a-z0-9]*[a-z0-9])?)\.(?<ns>[a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.cluster\.local)?(?![-A-Za-z0-9]|\.[A-Za-z0-9])")]
    private static partial Regex ServiceName();

    [GeneratedRegex(@"^metadata\.(labels|annotations)\['([^']+)'\]$")]
    private static partial Regex LabelOrAnnotation();
}
