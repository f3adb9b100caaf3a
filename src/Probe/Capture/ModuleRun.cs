using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Capture;

/// <summary>
/// The hooks of one capture over a TorchSharp model. Every module gets a light pre/post hook (to count calls and to
/// know where a forward pass failed); the selected calls copy their input in the pre-hook (before an in-place module
/// can overwrite it) and their output in the post-hook, into reused per-site buffers (or straight into a
/// <see cref="RowTarget"/>). Disposing removes every hook.
/// </summary>
internal sealed class ModuleRun : IActivationRun, IDirectRun
{
    sealed class Slot
    {
        public required string Name;
        public required string Type;
        public required nn.Module Module;
        public int Entered, Left;         // calls in the current batch
        public int TracedCalls;
        public Tensor? LastInput;         // the input of the call in progress (its shape is read only if the call fails)
        public Dictionary<int, Site> Selected = new();
    }

    sealed class Site
    {
        public required string Name;
        public required Slot Slot;
        public required int Call;
        public required bool TokensLast;
        public string? LayoutType;        // the producer's type when it decides the layout (ModuleTrace.LayoutType)
        public int[]? OutputShape;
        public int Order = -1;
        public float[] Out = [];
        public float[] In = [];
        public MapReduction InputReduce, OutputReduce;
        public SiteReader? InputReader, OutputReader;
        public long? OutNonFinite, InNonFinite;   // counted by the copy of the current batch
        public bool Fired;                        // ran in the current batch
        public int OutCols, InCols;
    }

    readonly nn.Module<Tensor, Tensor> _model;
    readonly MapReduction _reduce;
    readonly bool _includeInputs;
    readonly List<Slot> _slots = new();
    readonly List<Site> _sites = new();
    readonly Dictionary<string, Site> _byName = new(StringComparer.Ordinal);
    readonly List<IDisposable> _removers = new();
    readonly Stack<Slot> _open = new();
    readonly Dictionary<string, Matrix> _outputs = new(StringComparer.Ordinal);
    readonly Dictionary<string, Matrix> _inputs = new(StringComparer.Ordinal);
    int _rows, _fired, _offset;
    RowTarget? _target;
    bool _first = true;
    readonly bool _wasTraining;

    readonly ComputeDevice _device;

    public ModuleRun(nn.Module<Tensor, Tensor> model, ModuleTrace trace, IReadOnlyList<string> sites, MapReduction reduce, bool includeInputs, ComputeDevice? device = null,
                     SiteReductions? perSite = null)
    {
        _model = model; _reduce = reduce; _includeInputs = includeInputs; _device = device ?? ComputeDevice.Cpu;
        var bySite = trace.Calls.ToDictionary(c => c.Site, StringComparer.Ordinal);
        var silent = trace.Silent.ToDictionary(s => s.Name, StringComparer.Ordinal);
        try
        {
            var slots = new Dictionary<string, Slot>(StringComparer.Ordinal);
            foreach (var (name, type, _, module) in ModuleTrace.Modules(model))
            {
                if (module is not nn.Module<Tensor, Tensor> tm) continue;
                var slot = new Slot { Name = name, Type = type, Module = module, TracedCalls = trace.CallCounts.GetValueOrDefault(name) };
                slots[name] = slot;
                _slots.Add(slot);
                _removers.Add(new ModuleTrace.HookHandle(tm.register_forward_pre_hook((m, input) => { Enter(slot, input); return input; }).remove));
                _removers.Add(new ModuleTrace.HookHandle(tm.register_forward_hook((m, input, output) => { Leave(slot, output); return output; }).remove));
            }
            var neverRan = new List<string>();
            foreach (var name in sites)
            {
                if (bySite.TryGetValue(name, out var call))
                {
                    var slot = slots.GetValueOrDefault(call.Module)
                        ?? throw new ProbeException($"Layer '{name}' ({call.Type}) does not map one tensor to one tensor, so Probe cannot hook it. Select its children instead.");
                    string? layout = trace.LayoutType(call);
                    var site = new Site { Name = name, Slot = slot, Call = call.Call, TokensLast = SiteLayout.TokensLast(layout ?? call.Type, call.OutputShape), OutputShape = call.OutputShape, LayoutType = layout,
                                          InputReduce = perSite != null && perSite.Inputs.TryGetValue(name, out var ir) ? ir : reduce,
                                          OutputReduce = perSite != null && perSite.Outputs.TryGetValue(name, out var or) ? or : reduce,
                                          InputReader = perSite?.ReaderOf(name, input: true), OutputReader = perSite?.ReaderOf(name, input: false) };
                    if ((site.InputReader != null || site.OutputReader != null) && reduce != MapReduction.Flatten)
                        throw new ProbeException($"Site readers read whole rows (reduce flatten), got {reduce}.");
                    slot.Selected[call.Call] = site;
                    _sites.Add(site);
                    _byName[name] = site;
                }
                else if (silent.ContainsKey(name)) neverRan.Add(name);
                else throw new ProbeException($"Unknown site '{name}'. Sites: {string.Join(", ", bySite.Keys)}.");
            }
            if (neverRan.Count > 0) throw NeverFired(neverRan, trace);
            _wasTraining = model.training;
            model.eval();
        }
        catch
        {
            DisposeHooks();
            throw;
        }
    }

    public IReadOnlyDictionary<string, Matrix> Outputs => _outputs;
    public IReadOnlyDictionary<string, Matrix> Inputs => _inputs;

    public RowTarget? Target { set => _target = value; }

    public IReadOnlyList<LayerInfo> Layers =>
        _sites.OrderBy(s => s.Order).Select((s, i) => new LayerInfo(s.Name, s.Slot.Type, s.OutputShape ?? [], s.OutCols, i) { LayoutType = s.LayoutType }).ToList();

    public void Forward(ReadOnlySpan<float> input, int count, int[] sampleShape, int offset)
    {
        long[] shape = [count, .. sampleShape.Select(d => (long)d)];
        _rows = count;
        _offset = offset;
        _open.Clear();
        foreach (var s in _slots) { s.Entered = 0; s.Left = 0; }
        foreach (var s in _sites) { s.OutNonFinite = null; s.InNonFinite = null; s.Fired = false; }
        using (var noGrad = torch.no_grad())
        using (var scope = torch.NewDisposeScope())
        {
            var x = torch.empty(shape, ScalarType.Float32);
            input[..(int)x.numel()].CopyTo(MemoryMarshal.Cast<byte, float>(x.bytes));
            if (_device.IsCuda) x = x.to(_device.ToTorch());
            try
            {
                _model.call(x);
            }
            catch (ProbeException) { throw; }
            catch (Exception e) when (e is ExternalException or ArgumentException or InvalidOperationException)
            {
                throw ShapeError(e, shape);
            }
        }
        // Every selected site runs on every batch: one that did not would leave its rows of this batch unwritten (or
        // the last batch's values in its buffer).
        foreach (var site in _sites)
        {
            if (site.Fired) continue;
            var silent = _sites.Where(s => !s.Fired).ToList();
            throw new ProbeException("Hook(s) never fired: " + string.Join(" ", silent.Select(s => _first
                ? $"'{s.Name}' ({s.Slot.Type}) did not run on this batch although it ran when the model was traced (the model's control flow depends on its input)."
                : $"'{s.Name}' ({s.Slot.Type}) did not run on samples {offset}..{offset + count - 1} although it ran on the batches before (the model's control flow depends on its input); Probe records every selected layer for every sample, so select layers that run on every batch.")));
        }
        _first = false;
        _outputs.Clear();
        _inputs.Clear();
        if (_target != null) return;   // every recorded site went to the target
        foreach (var s in _sites)
        {
            if (s.OutputReader == null)
                _outputs[s.Name] = new Matrix(count, s.OutCols, s.Out.Length == count * s.OutCols ? s.Out : s.Out[..(count * s.OutCols)]);
            if (_includeInputs && s.InputReader == null)
                _inputs[s.Name] = new Matrix(count, s.InCols, s.In.Length == count * s.InCols ? s.In : s.In[..(count * s.InCols)]);
        }
    }

    void Enter(Slot slot, Tensor input)
    {
        slot.LastInput = input;
        _open.Push(slot);
        int k = slot.Entered++;
        if (_includeInputs && slot.Selected.TryGetValue(k, out var site))
        {
            var shape = ShapeOf(input);
            if (shape.Length == 0 || shape[0] != _rows)
                throw new ProbeException($"Layer '{site.Name}' ({slot.Type}) received an input of shape [{string.Join(", ", shape)}]; Probe records a layer's input per sample, so it expects the batch ({_rows} samples) as its first dimension. Record its output instead, or the input of a layer that takes the batch first.");
            site.InCols = site.InputReader is { } reader ? Read(input, shape, site, reader)
                : Copy(input, shape, site, input: true, ref site.In, tokensLast: SiteLayout.TokensLast(site.LayoutType ?? slot.Type, PerSample(shape)), out site.InNonFinite, site.InputReduce);
        }
    }

    void Leave(Slot slot, Tensor output)
    {
        if (_open.Count > 0 && ReferenceEquals(_open.Peek(), slot)) _open.Pop();
        slot.LastInput = null;
        int k = slot.Left++;
        if (slot.Left > Math.Max(1, slot.TracedCalls) && slot.Selected.Count > 0)
            throw new ProbeException($"Layer '{slot.Name}' ({slot.Type}) ran {slot.Left} times in one forward pass but {slot.TracedCalls} time(s) when the model was traced; Probe names each call (name#0, name#1, ...) from the trace, so the model's control flow must not depend on its input.");
        if (!slot.Selected.TryGetValue(k, out var site)) return;
        var shape = ShapeOf(output);
        if (shape.Length == 0 || shape[0] != _rows)
            throw new ProbeException($"Layer '{site.Name}' ({slot.Type}) returned shape [{string.Join(", ", shape)}]; Probe expects the batch ({_rows} samples) as its first dimension.");
        if (site.Order < 0) site.Order = _fired++;
        site.Fired = true;
        site.OutputShape = PerSample(shape);
        site.OutCols = site.OutputReader is { } reader ? Read(output, shape, site, reader) : Copy(output, shape, site, input: false, ref site.Out, site.TokensLast, out site.OutNonFinite, site.OutputReduce);
    }

    /// <summary>
    /// A tensor's shape from its rank and sizes: TorchSharp's <c>Tensor.shape</c> allocates its array through a native
    /// callback (about 1 µs a call here, against 0.25 µs this way), and a hook reads the shape of every site it records.
    /// </summary>
    internal static long[] ShapeOf(Tensor t)
    {
        var shape = new long[t.dim()];
        for (int i = 0; i < shape.Length; i++) shape[i] = t.size(i);
        return shape;
    }

    /// <summary>The per-sample part of a shape (all but the batch dimension).</summary>
    internal static int[] PerSample(long[] shape)
    {
        var s = new int[Math.Max(0, shape.Length - 1)];
        for (int i = 0; i < s.Length; i++) s[i] = (int)shape[i + 1];
        return s;
    }

    // Hands a site's whole rows to its reader where libtorch holds them (a view when the tensor is a contiguous float32
    // CPU tensor, as most are): nothing is copied out.
    int Read(Tensor t, long[] shape, Site site, SiteReader reader)
    {
        using var scope = torch.NewDisposeScope();
        var (rows, n, cols) = CpuRows(t, shape, MapReduction.Flatten, tokensLast: false, site.Name);
        reader(MemoryMarshal.Cast<byte, float>(rows.bytes)[..(n * cols)], n, cols);
        return cols;
    }

    /// <summary>
    /// A site of at least this many values is copied out in two halves on libtorch's OpenMP threads. Below it, handing
    /// the other half over costs more than it saves: after a small matrix product libtorch's other thread may have gone
    /// to sleep, and waking it takes microseconds (a streaming capture of the digits MLP, sites of 256 x 128 values and
    /// fewer: 1.25x-1.29x a plain pass with halves from 2^14 values, 1.17x-1.18x from 2^16; the MLP 784-256-128-10 on
    /// 60,000 rows 1.09x-1.10x and 1.07x-1.08x; 2026-12-01, three processes of 300 and 40 rounds each).
    /// </summary>
    internal const int CopyHalvesThreshold = 1 << 16;

    /// <summary>
    /// <see cref="Matrix.CopyAllFinite"/>, in two halves on libtorch's OpenMP threads from
    /// <see cref="CopyHalvesThreshold"/> values: inside a hook (or between batches) those threads wait idle, spinning,
    /// and each half runs mostly on data its thread's core just wrote (an MLP at 60,000 images: 1.08x -> 1.04x a plain
    /// pass), or writes half of a batch into fresh memory outside the caches.
    /// </summary>
    internal static unsafe bool CopyAllFinite(ReadOnlySpan<float> values, Span<float> into)
    {
        if (values.Length < CopyHalvesThreshold) return Matrix.CopyAllFinite(values, into);
        if (into.Length < values.Length) throw new ArgumentException("The destination is shorter than the source.", nameof(into));
        var ok = new bool[2];
        fixed (float* p = values)
        fixed (float* q = into)
        {
            float* at = p, to = q; int len = values.Length, half = len / 2;
            Native.TorchThreads.Run(2, i => ok[i] = i == 0
                ? Matrix.CopyAllFinite(new ReadOnlySpan<float>(at, half), new Span<float>(to, half))
                : Matrix.CopyAllFinite(new ReadOnlySpan<float>(at + half, len - half), new Span<float>(to + half, len - half)));
        }
        return ok[0] && ok[1];
    }

    // Copies a site's rows into the target, or else into the site's reused buffer, and counts its NaN and infinities.
    int Copy(Tensor t, long[] shape, Site site, bool input, ref float[] buffer, bool tokensLast, out long? nonFinite, MapReduction? reduce = null)
    {
        using var scope = torch.NewDisposeScope();
        var (rows, n, cols) = CpuRows(t, shape, reduce ?? _reduce, tokensLast, site.Name);
        var values = MemoryMarshal.Cast<byte, float>(rows.bytes)[..(n * cols)];
        Span<float> into;
        if (_target != null) into = _target(site.Name, input, _offset, n, cols);
        else
        {
            if (buffer.Length < n * cols) buffer = new float[n * cols];
            into = buffer.AsSpan(0, n * cols);
        }
        bool finite = CopyAllFinite(values, into);
        nonFinite = finite ? 0 : Matrix.CountNonFinite(into[..values.Length]);
        return cols;
    }

    // ToRows, on the CPU (a GPU tensor's rows are copied back): what Read and Copy hand on, in the caller's scope.
    static (Tensor Rows, int N, int Cols) CpuRows(Tensor t, long[] shape, MapReduction reduce, bool tokensLast, string site)
    {
        var (rows, n, cols) = ToRows(t, shape, reduce, tokensLast, site);
        return (rows.device_type == DeviceType.CPU ? rows : rows.cpu(), n, cols);
    }

    public long? NonFinite(string site, bool input) =>
        _byName.TryGetValue(site, out var s) ? input ? s.InNonFinite : s.OutNonFinite : null;

    /// <summary>
    /// Turns one hooked tensor of shape <paramref name="shape"/> into a (batch x units) float32 contiguous tensor on its
    /// device (see <see cref="MapReduction"/>), with its number of rows and columns.
    /// </summary>
    internal static (Tensor Rows, int N, int Cols) ToRows(Tensor t, long[] shape, MapReduction reduce, bool tokensLast, string site)
    {
        if (shape.Length == 0) return (t.reshape(1, 1).to_type(ScalarType.Float32).contiguous(), 1, 1);
        long n = shape[0], cols;
        Tensor r;
        if (shape.Length == 1) (r, cols) = (t.reshape(n, 1), 1);
        else if (shape.Length == 2) (r, cols) = (t, shape[1]);
        else if (tokensLast && shape.Length == 3)
            (r, cols) = reduce switch
            {
                MapReduction.Flatten => (t.reshape(n, -1), shape[1] * shape[2]),
                MapReduction.Mean => (t.mean([1]), shape[2]),
                MapReduction.Max => (t.amax([1]), shape[2]),
                MapReduction.First => (t.select(1, 0), shape[2]),
                MapReduction.Last => (t.select(1, shape[1] - 1), shape[2]),
                _ => throw new ProbeException($"Unknown reduction {reduce}."),
            };
        else
            (r, cols) = reduce switch
            {
                MapReduction.Flatten => (t.reshape(n, -1), shape.Skip(1).Aggregate(1L, (a, d) => a * d)),
                MapReduction.Mean => (t.flatten(2).mean([2]), shape[1]),
                MapReduction.Max => (t.flatten(2).amax([2]), shape[1]),
                MapReduction.First or MapReduction.Last => throw new ProbeException($"Site '{site}' outputs a feature map of shape [{string.Join(", ", shape.Skip(1))}] per sample; --reduce {reduce.ToString().ToLowerInvariant()} applies to sequence outputs [tokens, features] only. Use mean, max or flatten."),
                _ => throw new ProbeException($"Unknown reduction {reduce}."),
            };
        if (r.dtype != ScalarType.Float32) r = r.to_type(ScalarType.Float32);
        if (n * cols > int.MaxValue)
            throw new ProbeException($"Site '{site}' gives {n} x {cols} values in one batch, more than one buffer holds (2^31 - 1); use a smaller batch.");
        return (r.is_contiguous() ? r : r.contiguous(), (int)n, (int)cols);
    }

    static ProbeException NeverFired(List<string> names, ModuleTrace trace)
    {
        var ran = trace.CallCounts.Keys.ToHashSet(StringComparer.Ordinal);
        var types = trace.Silent.ToDictionary(s => s.Name, s => s.Type, StringComparer.Ordinal);
        var lines = names.Select(name =>
        {
            string? parent = null;
            for (int dot = name.LastIndexOf('.'); dot > 0; dot = name.LastIndexOf('.', dot - 1))
                if (ran.Contains(name[..dot])) { parent = name[..dot]; break; }
            string child = name[(name.LastIndexOf('.') + 1)..];
            string type = types.GetValueOrDefault(name, "?");
            return parent != null
                ? $"'{name}' ({type}) never fired although its parent '{parent}' ran: the parent's forward most likely calls {child}.forward(x), which bypasses hooks, instead of {child}.call(x) — or it applies a functional operation and never uses this module."
                : $"'{name}' ({type}) never fired: the model's forward most likely calls {child}.forward(x), which bypasses hooks, instead of {child}.call(x) — or it applies a functional operation (such as torch.nn.functional.relu) and never uses this module.";
        });
        return new ProbeException("Hook(s) never fired: " + string.Join(" ", lines) + " TorchSharp runs forward hooks only through Module.call().");
    }

    Exception ShapeError(Exception e, long[] batchShape)
    {
        var failing = _open.Count > 0 ? _open.Peek() : null;
        long[]? inputShape = null;
        try { inputShape = failing?.LastInput?.shape; }
        catch (Exception x) when (x is not OutOfMemoryException) { } // the input was released: no shape to show
        return ForwardError.At(e, failing?.Name, failing?.Type, failing?.Module, inputShape, batchShape);
    }

    void DisposeHooks()
    {
        foreach (var r in _removers) r.Dispose();
        _removers.Clear();
    }

    public void Dispose()
    {
        DisposeHooks();
        if (_wasTraining) _model.train();
    }
}
