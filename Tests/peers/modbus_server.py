#!/usr/bin/env python3
"""A Modbus RTU server (pymodbus) on a serial port, for halld's Modbus driver tests.

Usage: modbus_server.py PORT
Serves 200 holding registers (protocol addresses 0-199; pymodbus blocks start at 1) (all zero) for any unit id at 9600 8N1 and prints
"ready" once the port is open. pymodbus is a real, independent implementation.
"""
import sys
import threading

from pymodbus import FramerType
from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import StartSerialServer


def main():
    port = sys.argv[1]
    device = ModbusDeviceContext(hr=ModbusSequentialDataBlock(1, [0] * 200))
    context = ModbusServerContext(devices=device, single=True)
    threading.Timer(0.3, lambda: print("ready", flush=True)).start()
    StartSerialServer(context=context, framer=FramerType.RTU, port=port, baudrate=9600, bytesize=8, parity="N", stopbits=1, timeout=0.05)


if __name__ == "__main__":
    main()
