using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Models;

/// <summary>
/// One module of a network: its dotted name ("" for the whole model), type name, parameter count (its own and its
/// children's), whether it is a leaf, and the shape of its output for one sample (without the batch dimension;
/// null when the module did not run or is not a tensor-to-tensor module).
/// </summary>
public sealed record ModuleDescription(string Name, string TypeName, long Parameters, bool IsLeaf, int[]? OutputShape, int Depth);

/// <summary>Describes a network's modules for <c>probe layers</c>.</summary>
public static class ModelInspector
{
    /// <summary>
    /// Every submodule with its dotted name, depth first in registration order: PyTorch's <c>named_modules()</c>
    /// order (TorchSharp's own <c>named_modules()</c> lists all children of a module before their descendants).
    /// The root itself is not included. <paramref name="childOrder"/> (a spec's <see cref="ModelSpec.LayerNames"/>), when
    /// given, puts the root's children in PyTorch's order where TorchSharp registers them otherwise (TorchVision's
    /// MobileNetV2 registers classifier before features); children it does not name follow in registration order.
    /// </summary>
    public static IEnumerable<(string Name, nn.Module Module)> NamedModules(nn.Module root, IReadOnlyList<string>? childOrder = null)
    {
        ArgumentNullException.ThrowIfNull(root);
        var seen = new HashSet<nn.Module>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(string, nn.Module)>();
        var children = root.named_children().ToList();
        if (childOrder != null)
        {
            var rank = childOrder.Select((n, i) => (n, i)).DistinctBy(t => t.n).ToDictionary(t => t.n, t => t.i, StringComparer.Ordinal);
            children = [.. children.Select((c, k) => (c, k)).OrderBy(t => rank.GetValueOrDefault(t.c.name, int.MaxValue)).ThenBy(t => t.k).Select(t => t.c)];
        }
        foreach (var c in Enumerable.Reverse(children)) stack.Push(c);
        while (stack.Count > 0)
        {
            var (name, m) = stack.Pop();
            if (!seen.Add(m)) continue; // a module registered twice is listed once, as in PyTorch
            yield return (name, m);
            foreach (var (child, cm) in m.named_children().Reverse()) stack.Push((name + "." + child, cm));
        }
    }

    /// <summary>
    /// Lists the model itself then every module in PyTorch's <c>named_modules()</c> order (<see cref="NamedModules"/>, with
    /// <paramref name="childOrder"/>), running one all-zeros sample of
    /// <paramref name="inputShape"/> (per-sample shape, e.g. [64] or [1, 8, 8]) through <c>call()</c> with temporary
    /// forward hooks to record output shapes. The model's training flag is restored afterwards.
    /// </summary>
    public static IReadOnlyList<ModuleDescription> Describe(nn.Module<Tensor, Tensor> model, IReadOnlyList<int> inputShape, IReadOnlyList<string>? childOrder = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (inputShape.Count == 0 || inputShape.Any(d => d <= 0))
            throw new ProbeException($"Input shape [{string.Join(", ", inputShape)}] must have positive sizes.");
        var modules = new List<(string Name, nn.Module Module)> { ("", model) };
        foreach (var (name, m) in NamedModules(model, childOrder))
            if (!ReferenceEquals(m, model)) modules.Add((name, m));

        var shapes = new Dictionary<string, int[]>(StringComparer.Ordinal);
        var removers = new List<Action>();
        bool wasTraining = model.training;
        try
        {
            foreach (var (name, m) in modules)
            {
                if (m is not nn.Module<Tensor, Tensor> tm) continue;
                string key = name;
                var handle = tm.register_forward_hook((_, _, output) =>
                {
                    shapes[key] = output.shape.Skip(1).Select(d => (int)d).ToArray();
                    return output;
                });
                removers.Add(handle.remove);
            }
            model.eval();
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var x = zeros([1, .. inputShape.Select(d => (long)d)]);
            model.call(x);
        }
        finally
        {
            foreach (var r in removers) r();
            model.train(wasTraining);
        }

        return modules.Select(e => new ModuleDescription(
            e.Name,
            e.Module.GetType().Name,
            e.Module.parameters().Sum(p => p.numel()),
            !e.Module.named_children().Any(),
            shapes.TryGetValue(e.Name, out var s) ? s : null,
            e.Name.Length == 0 ? 0 : e.Name.Count(c => c == '.') + 1)).ToArray();
    }
}
