using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Models;

/// <summary>
/// The network that <see cref="ModelSpec.Build"/> makes: named children run in order, each through
/// <c>call()</c> so that forward hooks fire for every child. Intermediate outputs are disposed as soon as the next
/// child has run (as TorchSharp's Sequential does), so a hook must copy what it receives.
/// <para>Input reshaping happens inside forward and is not a child: an MLP flattens any [N, ...] input to
/// [N, features]; a CNN reshapes [N, C*H*W] (or [N, H, W] for one channel) to [N, C, H, W]. Between the last
/// pooling and fc1 a CNN flattens to [N, features].</para>
/// </summary>
public sealed class ProbeNet : nn.Module<Tensor, Tensor>
{
    readonly List<(string Name, nn.Module<Tensor, Tensor> Module)> _children;
    readonly string? _flattenBefore;

    /// <summary>The spec this network was built from.</summary>
    public ModelSpec Spec { get; }

    /// <summary>The names of the children in forward order.</summary>
    public IReadOnlyList<string> LayerNames => _children.Select(c => c.Name).ToArray();

    internal ProbeNet(ModelSpec spec, List<(string, nn.Module<Tensor, Tensor>)> children, string? flattenBefore)
        : base(spec.Kind == ModelKind.Mlp ? "MLP" : "CNN")
    {
        Spec = spec;
        _children = children;
        _flattenBefore = flattenBefore;
        foreach (var (name, module) in children) register_module(name, module);
    }

    public override Tensor forward(Tensor input)
    {
        Tensor x = ShapeInput(input);
        foreach (var (name, module) in _children)
        {
            if (name == _flattenBefore) x = Replace(x, x.flatten(1), input);
            x = Replace(x, module.call(x), input);
        }
        return x;
    }

    /// <summary>Disposes <paramref name="old"/> when it is an intermediate (neither the caller's input nor the new value).</summary>
    static Tensor Replace(Tensor old, Tensor next, Tensor input)
    {
        if (!ReferenceEquals(old, input) && !ReferenceEquals(old, next) && old.Handle != next.Handle) old.Dispose();
        return next;
    }

    Tensor ShapeInput(Tensor x)
    {
        var shape = Spec.InputShape;
        long n = x.dim() == 0 ? 0 : x.size(0); // size(i), not shape: shape allocates through a native callback on every call
        long per = x.dim() == 0 ? 0 : x.numel() / Math.Max(1, n);
        if (x.dim() < 2 || per != Spec.InputSize)
            throw new ProbeException($"Model {Spec} expects input of shape [N, {string.Join(", ", shape)}] (or [N, {Spec.InputSize}]); got [{string.Join(", ", x.shape)}].");
        if (Spec.Kind == ModelKind.Mlp)
            return x.dim() == 2 ? x : x.reshape(n, per);
        if (x.dim() == 4 && x.size(1) == shape[0] && x.size(2) == shape[1] && x.size(3) == shape[2]) return x;
        return x.reshape(n, shape[0], shape[1], shape[2]);
    }
}
