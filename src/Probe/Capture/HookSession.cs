using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Capture;

/// <summary>
/// The hooks of one capture run. Every module gets a light pre/post hook (to know which modules ran and where a
/// forward pass failed); selected modules also copy their output (and input) into reused per-layer buffers.
/// Disposing removes every hook.
/// </summary>
internal sealed class HookSession : IDisposable
{
    sealed class Slot
    {
        public required string Name;
        public required string Type;
        public required nn.Module Module;
        public bool Selected;
        public int Calls;          // calls in the current batch
        public bool EverFired;
        public int FireOrder = -1;
        public int[]? OutputShape;
        public int Features = -1;
        public float[] Out = Array.Empty<float>();
        public float[] In = Array.Empty<float>();
        public int InFeatures = -1;
        public long NonFiniteOut, NonFiniteIn;
        public long[]? LastInputShape;
    }

    readonly ActivationCapture _settings;
    readonly List<Slot> _slots = new();
    readonly List<IDisposable> _removers = new();
    readonly Stack<Slot> _open = new();
    int _fired;
    int _batchRows;

    public HookSession(nn.Module<Tensor, Tensor> model, IReadOnlyList<(string Name, nn.Module Module)> selected, ActivationCapture settings)
    {
        _settings = settings;
        var chosen = selected.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        try
        {
            foreach (var (name, module) in model.named_modules())
            {
                if (name.Length == 0 && selected.All(s => !ReferenceEquals(s.Module, model))) continue;
                var slot = new Slot { Name = name.Length == 0 ? "model" : name, Type = LayerSelector.TypeName(module), Module = module, Selected = chosen.Contains(name.Length == 0 ? "model" : name) };
                if (module is not nn.Module<Tensor, Tensor> tm)
                {
                    if (slot.Selected)
                        throw new ProbeException($"Layer '{slot.Name}' ({slot.Type}) does not map one tensor to one tensor, so Probe cannot hook it. Select its children instead.");
                    continue;
                }
                _slots.Add(slot);
                _removers.Add(new Remover(tm.register_forward_pre_hook((m, input) => { Enter(slot, input); return input; })));
                _removers.Add(new Remover(tm.register_forward_hook((m, input, output) => { Leave(slot, input, output); return output; })));
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    sealed class Remover(object handle) : IDisposable
    {
        public void Dispose() => handle.GetType().GetMethod("remove")!.Invoke(handle, null);
    }

    public void BeginBatch(int rows)
    {
        _batchRows = rows;
        _open.Clear();
        foreach (var s in _slots) s.Calls = 0;
    }

    void Enter(Slot slot, Tensor input)
    {
        slot.LastInputShape = input.shape;
        _open.Push(slot);
    }

    void Leave(Slot slot, Tensor input, Tensor output)
    {
        if (_open.Count > 0 && ReferenceEquals(_open.Peek(), slot)) _open.Pop();
        slot.Calls++;
        if (!slot.EverFired) { slot.EverFired = true; slot.FireOrder = _fired++; }
        if (!slot.Selected) return;
        if (slot.Calls > 1)
            throw new ProbeException($"Layer '{slot.Name}' ({slot.Type}) ran {slot.Calls} times in one forward pass; Probe records one output per module per batch. Select a module that runs once (or give each use its own module).");
        if (output.shape.Length == 0 || output.shape[0] != _batchRows)
            throw new ProbeException($"Layer '{slot.Name}' ({slot.Type}) returned shape [{string.Join(", ", output.shape)}]; Probe expects the batch ({_batchRows} samples) as its first dimension.");
        slot.OutputShape ??= output.shape.Skip(1).Select(d => (int)d).ToArray();
        slot.Features = Copy(output, ref slot.Out, ref slot.NonFiniteOut);
        if (_settings.IncludeInputs) slot.InFeatures = Copy(input, ref slot.In, ref slot.NonFiniteIn);
    }

    int Copy(Tensor t, ref float[] buffer, ref long nonFinite)
    {
        var rows = _settings.ToRows(t);
        int n = (int)rows.shape[0], cols = (int)rows.shape[1];
        if (buffer.Length != n * cols) buffer = new float[n * cols];
        var src = MemoryMarshal.Cast<byte, float>(rows.bytes);
        src.CopyTo(buffer);
        nonFinite += CountNonFinite(buffer);
        return cols;
    }

    /// <summary>NaN and ±Inf are exactly the values for which v - v is not 0; checked a vector at a time.</summary>
    internal static long CountNonFinite(ReadOnlySpan<float> values)
    {
        int i = 0;
        long bad = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated && values.Length >= System.Numerics.Vector<float>.Count)
        {
            var any = System.Numerics.Vector<float>.Zero;
            var floats = System.Runtime.InteropServices.MemoryMarshal.Cast<float, System.Numerics.Vector<float>>(values);
            foreach (var v in floats) any |= (v - v);
            i = floats.Length * System.Numerics.Vector<float>.Count;
            if (any == System.Numerics.Vector<float>.Zero) { for (; i < values.Length; i++) if (!float.IsFinite(values[i])) bad++; return bad; }
            i = 0;
        }
        for (; i < values.Length; i++) if (!float.IsFinite(values[i])) bad++;
        return bad;
    }

    /// <summary>After the first batch: every selected module must have fired, or the error says why it likely did not.</summary>
    public void EndBatch(bool first)
    {
        if (!first) return;
        var silent = _slots.Where(s => s.Selected && s.Calls == 0).ToList();
        if (silent.Count == 0) return;
        var lines = silent.Select(s =>
        {
            var parent = _slots.Where(p => s.Name.StartsWith(p.Name + ".", StringComparison.Ordinal) && p.Calls > 0)
                               .OrderByDescending(p => p.Name.Length).FirstOrDefault();
            string child = s.Name[(s.Name.LastIndexOf('.') + 1)..];
            return parent != null
                ? $"'{s.Name}' ({s.Type}) never fired although its parent '{parent.Name}' ({parent.Type}) ran: the parent's forward most likely calls {child}.forward(x), which bypasses hooks, instead of {child}.call(x) — or it applies a functional operation and never uses this module."
                : $"'{s.Name}' ({s.Type}) never fired: the model's forward most likely calls {child}.forward(x), which bypasses hooks, instead of {child}.call(x) — or it applies a functional operation (such as torch.nn.functional.relu) and never uses this module.";
        });
        throw new ProbeException("Hook(s) never fired: " + string.Join(" ", lines) + " TorchSharp runs forward hooks only through Module.call().");
    }

    /// <summary>The error for a failed forward pass: the innermost module that did not finish, with its input shape and what it expects.</summary>
    public Exception ShapeError(Exception e, long[] batchShape)
    {
        string reason = e.Message.Split('\n')[0];
        var failing = _open.Count > 0 ? _open.Peek() : null;
        if (failing == null)
            return new ProbeException($"The model failed on input of shape [{string.Join(", ", batchShape)}]: {reason}", e);
        string expects = Expectation(failing.Module);
        return new ProbeException(
            $"Layer '{failing.Name}' ({failing.Type}) failed on input of shape [{string.Join(", ", failing.LastInputShape ?? Array.Empty<long>())}]" +
            (expects.Length > 0 ? $" but expects {expects}" : "") +
            $" (the data's batch shape is [{string.Join(", ", batchShape)}]): {reason}", e);
    }

    static string Expectation(nn.Module m)
    {
        var w = m.named_parameters(recurse: false).FirstOrDefault(p => p.name == "weight").parameter;
        if (w is null) return "";
        var s = w.shape;
        return LayerSelector.TypeName(m) switch
        {
            "Linear" => $"[*, {s[1]}] (in_features {s[1]})",
            "Conv1d" => $"[*, {s[1]}, L] (in_channels {s[1]})",
            "Conv2d" => $"[*, {s[1]}, H, W] (in_channels {s[1]})",
            "Conv3d" => $"[*, {s[1]}, D, H, W] (in_channels {s[1]})",
            _ => $"inputs that fit its weight of shape [{string.Join(", ", s)}]",
        };
    }

    IEnumerable<Slot> SelectedInOrder => _slots.Where(s => s.Selected).OrderBy(s => s.FireOrder);

    public IReadOnlyDictionary<string, Matrix> Outputs(int rows) =>
        SelectedInOrder.ToDictionary(s => s.Name, s => new Matrix(rows, s.Features, s.Out), StringComparer.Ordinal);

    public IReadOnlyDictionary<string, Matrix> Inputs(int rows) => _settings.IncludeInputs
        ? SelectedInOrder.ToDictionary(s => s.Name, s => new Matrix(rows, s.InFeatures, s.In), StringComparer.Ordinal)
        : new Dictionary<string, Matrix>();

    public CaptureSummary Summary(int samples)
    {
        var sel = SelectedInOrder.ToList();
        var layers = sel.Select((s, i) => new LayerInfo(s.Name, s.Type, s.OutputShape ?? Array.Empty<int>(), s.Features, i)).ToList();
        return new CaptureSummary(samples, layers,
            sel.ToDictionary(s => s.Name, s => s.NonFiniteOut, StringComparer.Ordinal),
            _settings.IncludeInputs ? sel.ToDictionary(s => s.Name, s => s.NonFiniteIn, StringComparer.Ordinal) : new Dictionary<string, long>());
    }

    public void Dispose()
    {
        foreach (var r in _removers) r.Dispose();
        _removers.Clear();
    }
}
