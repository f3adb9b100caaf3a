using System.Runtime.InteropServices;
using System.Security.Cryptography;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Capture;

/// <summary>
/// One call of one module during a traced forward pass: which module, its call index within the pass, its type, the
/// per-sample shapes of its input and output, and a fingerprint (SHA-256 of the float32 bytes) of each, taken in the
/// pre-hook (input, before an in-place module can overwrite it) and in the post-hook (output).
/// </summary>
internal sealed record ModuleCall(string Module, int Call, string Type, bool Leaf, int[] InputShape, int[] OutputShape,
    byte[] InputPrint, byte[] OutputPrint, int Completed)
{
    /// <summary>The site name: the module name, with <c>#k</c> when the module runs more than once per pass.</summary>
    public string Site { get; init; } = Module;
}

/// <summary>
/// What one forward pass of a TorchSharp model does, module call by module call: the sites (a module called k times
/// gives <c>name#0</c> … <c>name#k-1</c>), their shapes, and which module's output feeds which module's input (by
/// fingerprint, so a functional operation in between — a residual add, <c>F.relu</c> — is detected, never guessed).
/// Modules that never ran are listed in <see cref="Silent"/>.
/// </summary>
internal sealed class ModuleTrace
{
    public IReadOnlyList<ModuleCall> Calls { get; }
    public IReadOnlyDictionary<string, int> CallCounts { get; }
    public IReadOnlyList<(string Name, string Type, bool Leaf)> Silent { get; }

    ModuleTrace(List<ModuleCall> calls, Dictionary<string, int> counts, List<(string, string, bool)> silent)
    {
        Calls = calls; CallCounts = counts; Silent = silent;
    }

    /// <summary>Runs one sample (<paramref name="sample"/>, shape [1, ...]) through <paramref name="model"/> in eval mode with recording hooks.</summary>
    public static ModuleTrace Run(nn.Module<Tensor, Tensor> model, Tensor sample)
    {
        var open = new Stack<(string Name, string Type, nn.Module Module, long[] Shape)>();
        var modules = Modules(model);
        var calls = new List<ModuleCall>();
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        var pending = new Dictionary<string, Stack<(int Call, int[] Shape, byte[] Print)>>(StringComparer.Ordinal);
        var handles = new List<IDisposable>();
        bool wasTraining = model.training;
        int completed = 0;
        try
        {
            foreach (var (name, type, leaf, module) in modules)
            {
                if (module is not nn.Module<Tensor, Tensor> tm) continue;
                string key = name;
                handles.Add(new HookHandle(tm.register_forward_pre_hook((_, input) =>
                {
                    int k = counts.TryGetValue(key, out var c) ? c : 0;
                    counts[key] = k + 1;
                    if (!pending.TryGetValue(key, out var st)) pending[key] = st = new();
                    st.Push((k, PerSample(input), Print(input)));
                    open.Push((key, type, module, input.shape));
                    return input;
                }).remove));
                handles.Add(new HookHandle(tm.register_forward_hook((_, _, output) =>
                {
                    var (k, inShape, inPrint) = pending[key].Pop();
                    if (open.Count > 0 && open.Peek().Name == key) open.Pop();
                    calls.Add(new ModuleCall(key, k, type, leaf, inShape, PerSample(output), inPrint, Print(output), completed++));
                    return output;
                }).remove));
            }
            model.eval();
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            try
            {
                model.call(sample);
            }
            catch (ProbeException) { throw; }
            catch (Exception e) when (e is System.Runtime.InteropServices.ExternalException or ArgumentException or InvalidOperationException)
            {
                throw open.Count > 0
                    ? ForwardError.At(e, open.Peek().Name, open.Peek().Type, open.Peek().Module, open.Peek().Shape, sample.shape)
                    : ForwardError.At(e, null, null, null, null, sample.shape);
            }
        }
        finally
        {
            foreach (var h in handles) h.Dispose();
            model.train(wasTraining);
        }
        var named = calls.Select(c => counts[c.Module] > 1 ? c with { Site = $"{c.Module}#{c.Call}" } : c).ToList();
        var silent = modules.Where(m => !counts.ContainsKey(m.Name)).Select(m => (m.Name, m.Type, m.Leaf)).ToList();
        return new ModuleTrace(named, counts, silent);
    }

    /// <summary>Every module of the model by name (the model itself as "model" only when it has no children).</summary>
    internal static List<(string Name, string Type, bool Leaf, nn.Module Module)> Modules(nn.Module model)
    {
        var list = model.named_modules().Where(m => m.name.Length > 0)
            .Select(m => (Name: m.name, Type: LayerSelector.TypeName(m.module), Leaf: !m.module.children().Any(), Module: m.module)).ToList();
        if (list.Count == 0) list.Add(("model", LayerSelector.TypeName(model), true, model));
        return list;
    }

    static int[] PerSample(Tensor t) => ModuleRun.PerSample(t.shape);

    static byte[] Print(Tensor t)
    {
        using var scope = NewDisposeScope();
        var c = t.detach().cpu().to_type(ScalarType.Float32).contiguous();
        return SHA256.HashData(MemoryMarshal.Cast<byte, byte>(c.bytes));
    }

    /// <summary>
    /// The call whose output is exactly <paramref name="call"/>'s input: the latest leaf call that completed before it
    /// with the same fingerprint, looking through calls that returned their input unchanged (Dropout and Identity in eval
    /// mode). Null when no visible module produced that input (a functional operation did).
    /// </summary>
    public ModuleCall? Producer(ModuleCall call)
    {
        var target = call.InputPrint;
        ModuleCall? found = null;
        foreach (var c in Calls)
        {
            if (c.Completed >= call.Completed) break;
            if (c.Leaf && c.OutputPrint.AsSpan().SequenceEqual(target) && !ReferenceEquals(c, call)) found = c;
        }
        if (found != null && found.InputPrint.AsSpan().SequenceEqual(found.OutputPrint) && found.Type is "Dropout" or "Identity" or "Dropout2d" or "Dropout1d")
            return Producer(found);
        return found;
    }

    /// <summary>
    /// The module type that decides the layout of <paramref name="call"/>'s output (see <see cref="SiteLayout"/>): its
    /// own, except for an activation (or dropout, identity) fed straight by a visible module, which has its producer's
    /// layout (a ReLU after a Conv1d gives "Conv1d"), followed back through any chain of such modules. Null when it is
    /// the call's own type, or the output is not rank 2.
    /// </summary>
    public string? LayoutType(ModuleCall call)
    {
        if (call.OutputShape.Length != 2) return null;   // only a rank-2 output's layout depends on the type
        var at = call;
        for (int guard = 0; guard < Calls.Count && SiteLayout.PreservesLayout(at.Type); guard++)
        {
            if (Producer(at) is not { } p || !p.OutputShape.AsSpan().SequenceEqual(at.InputShape)) break;
            at = p;
        }
        return at.Type == call.Type ? null : at.Type;
    }

    /// <summary>Takes a hook off its module when disposed (the <c>remove</c> of the remover TorchSharp returned for it).</summary>
    internal sealed class HookHandle(Action remove) : IDisposable
    {
        public void Dispose() => remove();
    }
}
