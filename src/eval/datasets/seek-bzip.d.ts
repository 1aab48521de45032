// seek-bzip ships no types; this declares the one function the loaders use.
declare module 'seek-bzip' {
  const Bunzip: {
    /** Decompresses a whole .bz2 buffer; `multistream` also reads concatenated streams (pbzip2 output). */
    decode(input: Buffer, output?: Buffer, multistream?: boolean): Buffer;
  };
  export default Bunzip;
}
