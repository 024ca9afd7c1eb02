print("wps-server")
