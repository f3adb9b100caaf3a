using System.Runtime.InteropServices;
using Probe.Data;
using Probe.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Capture;

/// <summary>
/// A TorchSharp model as an activation source: every module call is a site, recorded by forward hooks (which TorchSharp
/// runs only through <c>Module.call()</c>; functional operations such as <c>torch.nn.functional.relu</c> or a residual
/// <c>out + identity</c> are invisible — wrap one in a module to make it a site, or export the model to ONNX, where every
/// op is a site). A module called k times in one forward pass (the <c>relu</c> a ResNet block reuses) gives sites
/// <c>name#0</c> … <c>name#k-1</c>. The sites are learnt from one traced sample: the first sample of the data the source
/// is bound to, or an all-zeros sample of <see cref="InputShape"/>.
/// </summary>
public sealed class ModuleSource : IActivationSource
{
    readonly bool _owns;
    ModuleTrace? _trace;
    int[]? _tracedShape;

    /// <param name="model">The model (not disposed unless <paramref name="ownsModel"/>).</param>
    /// <param name="inputShape">The per-sample input shape the model expects, when known (e.g. [3, 224, 224]).</param>
    /// <param name="description">What the model is, for messages.</param>
    /// <param name="ownsModel">Dispose the model with the source.</param>
    public ModuleSource(nn.Module<Tensor, Tensor> model, int[]? inputShape = null, string? description = null, bool ownsModel = false)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        InputShape = inputShape;
        Description = description ?? LayerSelector.TypeName(model);
        _owns = ownsModel;
    }

    /// <summary>The model.</summary>
    public nn.Module<Tensor, Tensor> Model { get; }

    /// <summary>
    /// Where the model runs (default the CPU). A CUDA device moves the model's parameters there when the source is
    /// first used; each batch is copied there and each captured activation copied back, so captures are the same data on
    /// any device (up to the device's arithmetic).
    /// </summary>
    public ComputeDevice Device { get; init; } = ComputeDevice.Cpu;

    ComputeDevice? _resolved;

    /// <summary>The concrete device, with the model moved there (once).</summary>
    internal ComputeDevice ResolvedDevice
    {
        get
        {
            if (_resolved is null)
            {
                var d = Device.Resolve();
                if (d.IsCuda) Model.to(d.ToTorch());
                _resolved = d;
            }
            return _resolved;
        }
    }

    /// <inheritdoc/>
    public string Description { get; }

    /// <inheritdoc/>
    public int[]? InputShape { get; }

    /// <inheritdoc/>
    public IReadOnlyList<SiteInfo> Sites
    {
        get
        {
            var trace = Trace;
            var fired = trace.Calls.OrderBy(c => c.Completed).Select(c => new SiteInfo(c.Site, c.Type, c.OutputShape, c.Leaf) { LayoutType = trace.LayoutType(c) });
            // Modules that never ran stay selectable by name, so selecting one gives the error that says why it did not run.
            var silent = trace.Silent.Select(s => new SiteInfo(s.Name, s.Type, null, s.Leaf));
            return fired.Concat(silent).ToList();
        }
    }

    ModuleTrace Trace => _trace ?? (InputShape is { } shape
        ? TraceWith(torch.zeros([1, .. shape.Select(d => (long)d)]), shape)
        : throw new ProbeException($"The sites of {Description} are found by running one sample through it; bind it to a data set first (its input shape is not known)."));

    /// <inheritdoc/>
    public void Bind(IDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Count == 0) throw new ProbeException($"Data set '{data.Name}' has no samples.");
        bool sameShape = _trace != null && _tracedShape != null && _tracedShape.SequenceEqual(data.SampleShape);
        if (sameShape && _tracedData == data) return;
        var x = new float[data.SampleSize()];
        data.ReadBatch(0, 1, x);
        // Another data set that starts with the same sample (a subset, or the same data read again) traces the same.
        if (sameShape && _tracedSample != null && MemoryMarshal.Cast<float, int>(x).SequenceEqual(MemoryMarshal.Cast<float, int>(_tracedSample)))
        {
            _tracedData = data;
            return;
        }
        using var scope = NewDisposeScope();
        var t = torch.tensor(x, [1, .. data.SampleShape.Select(d => (long)d)]);
        TraceWith(t, data.SampleShape);
        _tracedData = data;
        _tracedSample = x;
    }

    IDataset? _tracedData;
    float[]? _tracedSample;

    ModuleTrace TraceWith(Tensor sample, int[] shape)
    {
        var device = ResolvedDevice;
        using var scope = NewDisposeScope();
        _trace = ModuleTrace.Run(Model, device.IsCuda ? sample.to(device.ToTorch()) : sample);
        _tracedShape = shape;
        return _trace;
    }

    /// <inheritdoc/>
    public IActivationRun Start(IReadOnlyList<string> sites, MapReduction reduce, bool includeInputs) =>
        new ModuleRun(Model, Trace, sites, reduce, includeInputs, ResolvedDevice);

    /// <inheritdoc/>
    /// <remarks>Here the named outputs and inputs are reduced in libtorch inside the hook, so only the reduced rows are copied out.</remarks>
    public IActivationRun Start(IReadOnlyList<string> sites, MapReduction reduce, bool includeInputs, SiteReductions perSite) =>
        new ModuleRun(Model, Trace, sites, reduce, includeInputs, ResolvedDevice, perSite);

    /// <inheritdoc/>
    /// <remarks>
    /// Read from the traced sample: the site's input must be bit-for-bit the output of a Linear or Conv call, or of a
    /// BatchNorm call whose input is bit-for-bit such an output (then the BatchNorm's eval-mode affine map — running mean
    /// and variance, weight, bias, eps — is folded into the weights). Anything else (a residual add, a functional op, a
    /// pooling) is <see cref="SiteOrigin.Unknown"/>: a wrong cause is worse than none.
    /// </remarks>
    public SiteOrigin Origin(string site)
    {
        var call = Trace.Calls.FirstOrDefault(c => c.Site == site)
            ?? throw new ProbeException($"Unknown site '{site}'. Sites: {string.Join(", ", Trace.Calls.OrderBy(c => c.Completed).Select(c => c.Site))}.");
        var producer = Trace.Producer(call);
        if (producer == null)
            return new SiteOrigin.Unknown($"its input is not the output of any module Probe can see: a functional operation (such as a residual add) computes it, and causes are read only from a Linear or Conv layer (a BatchNorm between folded in) that feeds the unit directly. Wrapping the operation in a module makes it a site; an ONNX export shows every op, which explains the unit when a Linear or Conv feeds it through ops such as F.relu, but not after a residual add, which no single layer explains");
        var modules = Model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        string? folded = null;
        var norm = modules.GetValueOrDefault(producer.Module) as TorchSharp.Modules.NormBase;
        var affine = producer;
        if (producer.Type.StartsWith("BatchNorm", StringComparison.Ordinal) && norm != null)
        {
            affine = Trace.Producer(producer)!;
            if (affine == null)
                return new SiteOrigin.Unknown($"it follows '{producer.Site}' ({producer.Type}), whose input comes from an operation Probe cannot see");
            folded = producer.Site;
        }
        if (!IsAffine(affine.Type))
            return new SiteOrigin.Unknown($"it follows '{affine.Site}' ({affine.Type}), not a Linear or Conv layer{(folded != null ? $" (through '{folded}')" : "")}");
        var module = modules[affine.Module];
        var conv = module as TorchSharp.Modules.Convolution;
        // A transposed convolution's weight is [in, out, ...]: its rows are not its units.
        if (conv is { transposed: true })
            return new SiteOrigin.Unknown($"it follows '{affine.Site}' ({affine.Type}), a transposed convolution, whose units Probe does not explain");
        // Reflect, replicate and circular padding repeat input values inside a window, so neither a window's norm nor
        // the whole input's bounds what the unit reads.
        if (conv != null && conv.padding_mode != PaddingModes.Zeros)
            return new SiteOrigin.Unknown($"it follows '{affine.Site}' ({affine.Type}), whose padding mode {conv.padding_mode} repeats input values, so no bound on what its units read is kept");
        var ps = module.named_parameters(recurse: false).ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        if (!ps.TryGetValue("weight", out var w) || w.dim() < 2)
            return new SiteOrigin.Unknown($"'{affine.Site}' ({affine.Type}) has no weight matrix");
        using var scope = NewDisposeScope();
        int units = (int)w.shape[0];
        var weight = ToFloats(w);
        var bias = ps.TryGetValue("bias", out var b) && b is not null ? ToFloats(b) : new float[units];
        if (norm != null && folded != null)
        {
            if (norm.num_features != units)
                return new SiteOrigin.Unknown($"'{folded}' has {norm.num_features} features but '{affine.Site}' has {units} outputs");
            // A BatchNorm normalises the axis after the batch: a conv's channels, a Linear's units only when its output is
            // one vector per sample (over tokens [T, D] it would normalise the T axis, whatever its size).
            if (conv == null && affine.OutputShape.Length != 1)
                return new SiteOrigin.Unknown($"'{folded}' normalises the first axis of '{affine.Site}''s [{string.Join(", ", affine.OutputShape)}] output per sample, not its units");
            if (norm.running_mean is null || norm.running_var is null)
                return new SiteOrigin.Unknown($"'{folded}' keeps no running statistics, so its eval-mode map is not fixed");
            var mean = ToFloats(norm.running_mean);
            var variance = ToFloats(norm.running_var);
            var gamma = norm.weight is null ? null : ToFloats(norm.weight);
            var beta = norm.bias is null ? null : ToFloats(norm.bias);
            int inFeatures = weight.Length / units;
            for (int u = 0; u < units; u++)
            {
                double scale = (gamma?[u] ?? 1.0) / Math.Sqrt(variance[u] + norm.eps);
                for (int i = 0; i < inFeatures; i++) weight[u * inFeatures + i] = (float)(weight[u * inFeatures + i] * scale);
                bias[u] = (float)((bias[u] - mean[u]) * scale + (beta?[u] ?? 0.0));
            }
        }
        // A convolution's units read a window of its input ([C, S1, ..., Sk] per sample, as traced).
        ConvWindow? window = null;
        if (conv != null && w.dim() >= 3 && conv.dilation is { } dilation && dilation.Length == w.dim() - 2 && affine.InputShape.Length == w.dim() - 1)
            window = new ConvWindow(affine.InputShape, w.shape[2..].Select(k => (int)k).ToArray(), dilation.Select(d => (int)d).ToArray());
        return new SiteOrigin.Affine(affine.Site, affine.Type, weight, bias, weight.Length / units, affine.Site, folded) { Window = window };
    }

    static bool IsAffine(string type) => type == "Linear" || type.StartsWith("Conv", StringComparison.Ordinal);

    static float[] ToFloats(Tensor t) => t.detach().to_type(ScalarType.Float32).Values<float>();

    /// <summary>Disposes the model when the source owns it.</summary>
    public void Dispose()
    {
        if (_owns) Model.Dispose();
    }
}
