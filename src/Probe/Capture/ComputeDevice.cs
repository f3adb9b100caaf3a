using System.Globalization;
using TorchSharp;

namespace Probe.Capture;

/// <summary>What a device request names: <c>auto</c>, <c>cpu</c> or <c>cuda[:N]</c>.</summary>
public enum DeviceKind { Auto, Cpu, Cuda }

/// <summary>
/// Where models run and tensor math happens: <c>auto</c> (a CUDA device when this process's libtorch has one, else the
/// CPU), <c>cpu</c>, or <c>cuda[:N]</c> (GPU N, default 0). TorchSharp decides what exists: the TorchSharp-cpu package
/// this project references has no CUDA, so <c>cuda</c> fails with a message naming the package to reference instead
/// (TorchSharp-cuda-linux / TorchSharp-cuda-windows, and Microsoft.ML.OnnxRuntime.Gpu for ONNX models).
/// Results are copied back to the CPU as they are produced, so every analysis downstream is the same on any device.
/// </summary>
public sealed record ComputeDevice(DeviceKind Kind, int Index = 0)
{
    /// <summary>The CPU.</summary>
    public static ComputeDevice Cpu { get; } = new(DeviceKind.Cpu);

    /// <summary>CUDA when available, else the CPU.</summary>
    public static ComputeDevice Auto { get; } = new(DeviceKind.Auto);

    /// <summary>Reads <c>auto</c>, <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c> (case-insensitive).</summary>
    /// <exception cref="ProbeException">Anything else, with the accepted forms.</exception>
    public static ComputeDevice Parse(string text)
    {
        string t = (text ?? "").Trim().ToLowerInvariant();
        if (t == "auto") return Auto;
        if (t == "cpu") return Cpu;
        if (t == "cuda") return new(DeviceKind.Cuda, 0);
        if (t.StartsWith("cuda:", StringComparison.Ordinal)
            && int.TryParse(t.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out int n))
            return new(DeviceKind.Cuda, n);
        throw new ProbeException($"Unknown device '{text}'. Use auto, cpu, cuda or cuda:N (N = 0, 1, ...).");
    }

    /// <summary>How many CUDA devices this process's libtorch sees (0 with TorchSharp-cpu).</summary>
    public static int CudaDeviceCount()
    {
        try { return torch.cuda.is_available() ? torch.cuda.device_count() : 0; }
        catch (Exception e) when (e is not OutOfMemoryException) { return 0; }
    }

    /// <summary>
    /// The concrete device: <c>auto</c> becomes <c>cuda:0</c> or <c>cpu</c>; a CUDA request is checked against what
    /// exists.
    /// </summary>
    /// <exception cref="ProbeException">CUDA was asked for and is absent, or the index is out of range.</exception>
    public ComputeDevice Resolve()
    {
        if (Kind == DeviceKind.Cpu) return this;
        int count = CudaDeviceCount();
        if (Kind == DeviceKind.Auto) return count > 0 ? new(DeviceKind.Cuda, 0) : Cpu;
        if (count == 0)
            throw new ProbeException(
                $"Device '{this}' was requested but this process's libtorch has no CUDA support (Probe references TorchSharp-cpu). " +
                "To run on a GPU, reference TorchSharp-cuda-linux (or TorchSharp-cuda-windows) of the same TorchSharp version instead of TorchSharp-cpu, " +
                "and Microsoft.ML.OnnxRuntime.Gpu instead of Microsoft.ML.OnnxRuntime for ONNX models; or use --device cpu.");
        if (Index >= count)
            throw new ProbeException($"Device '{this}' was requested but only {count} CUDA device(s) exist (cuda:0 … cuda:{count - 1}).");
        return this;
    }

    /// <summary>True for a (resolved) CUDA device.</summary>
    public bool IsCuda => Kind == DeviceKind.Cuda;

    /// <summary>The TorchSharp device of a resolved request.</summary>
    public torch.Device ToTorch() => Kind switch
    {
        DeviceKind.Cpu => torch.CPU,
        DeviceKind.Cuda => new torch.Device(DeviceType.CUDA, Index),
        _ => Resolve().ToTorch(),
    };

    /// <summary><c>auto</c>, <c>cpu</c> or <c>cuda:N</c>.</summary>
    public override string ToString() => Kind switch
    {
        DeviceKind.Auto => "auto",
        DeviceKind.Cpu => "cpu",
        _ => "cuda:" + Index.ToString(CultureInfo.InvariantCulture),
    };
}
