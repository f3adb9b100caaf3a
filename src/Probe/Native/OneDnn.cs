using System.Runtime.InteropServices;

namespace Probe.Native;

/// <summary>
/// libtorch's switch for its oneDNN (MKLDNN) kernels, <c>at::globalContext().setUserEnabledMkldnn</c> (Python's
/// <c>torch.backends.mkldnn.enabled</c>), which TorchSharp does not expose: called through libtorch_cpu.so's exported
/// C++ symbols. With it off, libtorch's CPU convolutions run its own kernels (im2col and GEMM).
/// </summary>
/// <remarks>
/// Why: on an AVX-512 host (AMD EPYC, 2026-12-01) training the report tests' small ResNet (widths 4-32, 8 x 8 inputs)
/// gave NaN gradients at random after other work in the same process (in 4 of 4 runs of two test classes together;
/// one process in six standalone), starting in the backward pass: every gradient below one block's convolution was NaN
/// while the loss was finite. oneDNN ran those weight gradients with <c>jit_1x1:avx512_core</c> (the stride-2 1 x 1
/// downsample, 4 input channels, fewer than its 16-channel block), <c>jit:avx2</c> and <c>x64:gemm:jit</c>; its
/// tracker has an open report of a 1 x 1 weight-gradient kernel writing past its workspace when a layer has fewer input
/// channels than a block, which fits a fault that depends on what else the process did. Keeping oneDNN to AVX2
/// (<c>ONEDNN_MAX_CPU_ISA</c>) did not help; with oneDNN off no run failed. Turning it off process-wide is a speed
/// choice as much as a safety one, so the <see cref="Models.Trainer"/> turns it off only while it trains (backward
/// passes), and forward passes keep oneDNN.
/// </remarks>
internal static unsafe class OneDnn
{
    private static readonly delegate* unmanaged<IntPtr> GlobalContext;
    private static readonly delegate* unmanaged<IntPtr, byte, void> SetEnabled;
    private static readonly delegate* unmanaged<IntPtr, byte> GetEnabled;
    private static readonly object Gate = new();
    private static int _holders;
    private static bool _before;

    /// <summary>Whether libtorch's switch was found (Linux, with libtorch_cpu.so in the process).</summary>
    public static bool Available { get; }

    static OneDnn()
    {
        try
        {
            _ = TorchSharp.torch.get_num_threads();   // libtorch is loaded
            string? path = TorchThreads.MappedBesideTorch("libtorch_cpu.so");
            if (path == null || !NativeLibrary.TryLoad(path, out var lib)) return;
            if (!NativeLibrary.TryGetExport(lib, "_ZN2at13globalContextEv", out var ctx)
                || !NativeLibrary.TryGetExport(lib, "_ZN2at7Context20setUserEnabledMkldnnEb", out var set)
                || !NativeLibrary.TryGetExport(lib, "_ZNK2at7Context17userEnabledMkldnnEv", out var get)) return;
            GlobalContext = (delegate* unmanaged<IntPtr>)ctx;
            SetEnabled = (delegate* unmanaged<IntPtr, byte, void>)set;
            GetEnabled = (delegate* unmanaged<IntPtr, byte>)get;
            Available = true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or DllNotFoundException or BadImageFormatException) { }
    }

    /// <summary>libtorch's current setting (null when the switch was not found).</summary>
    public static bool? Enabled => Available ? GetEnabled(GlobalContext()) != 0 : null;

    /// <summary>
    /// Turns oneDNN off until the returned handle is disposed (nested and concurrent holders share one setting: the
    /// last to leave restores what the first found).
    /// </summary>
    public static IDisposable Off()
    {
        if (!Available) return Nothing.Instance;
        lock (Gate)
        {
            if (_holders++ == 0)
            {
                var c = GlobalContext();
                _before = GetEnabled(c) != 0;
                SetEnabled(c, 0);
            }
        }
        return new Holder();
    }

    private sealed class Holder : IDisposable
    {
        private int _done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) != 0) return;
            lock (Gate)
                if (--_holders == 0) SetEnabled(GlobalContext(), _before ? (byte)1 : (byte)0);
        }
    }

    private sealed class Nothing : IDisposable
    {
        public static readonly Nothing Instance = new();
        public void Dispose() { }
    }
}
